"""The ``'lbfgs'`` M-step: the paper's objective solved to convergence.

Mean BCE on a fixed set of virtual features (+ a tiny L2 ``l2 / 2
||w_c||^2`` that keeps separable classes finite), solved with torch's
L-BFGS, one class at a time (the classes are independent: the head is
group-wise), in float64, warm-started from the current head. Every rank
draws the same samples; rank 0's result is then broadcast.
"""
from typing import List

import torch
import torch.nn.functional as F

from mmpretrain.registry import TASK_UTILS

from ..sampler import ReverseSampler
from .base import BaseMStepSolver


def _lbfgs_one_class(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                     b: torch.Tensor, l2: float, max_iter: int,
                     tol: float) -> float:
    """Minimise mean BCE(x w + b, y) + l2/2 ||w||^2 in place; x (N, D),
    y (N,), w (D,), b () float64. Returns the final objective."""
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b],
                            lr=1,
                            max_iter=max_iter,
                            max_eval=max_iter * 2,
                            tolerance_grad=tol,
                            tolerance_change=1e-12,
                            history_size=20,
                            line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y)
        loss = loss + 0.5 * l2 * w.dot(w)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = F.binary_cross_entropy_with_logits(x @ w + b, y) + \
            0.5 * l2 * w.dot(w)
    w.requires_grad_(False)
    b.requires_grad_(False)
    return float(final)


@torch.no_grad()
def lbfgs_m_step(weight: torch.Tensor,
                 bias: torch.Tensor,
                 sampler: ReverseSampler,
                 generator: torch.Generator,
                 num_samples: int = 8192,
                 l2: float = 1e-4,
                 max_iter: int = 500,
                 tol: float = 1e-6) -> List[float]:
    """The classifier minimising BCE on virtual features, per class.

    For each class c, ``num_samples`` virtual (x_c, y_c) are drawn
    (:meth:`ReverseSampler.sample_class`) and ``mean BCE + l2/2 ||w_c||^2``
    is minimised with L-BFGS (strong-Wolfe line search) in float64 from the
    current (w_c, b_c). The same objective as scikit-learn's
    ``LogisticRegression(C=1 / (num_samples * l2))`` (bias unpenalised).

    Args:
        weight (Tensor): (C, D), updated in place.
        bias (Tensor): (C,), updated in place.
        sampler (ReverseSampler): Fitted.
        generator (torch.Generator): Source of the virtual samples.
        num_samples (int): Virtual samples per class. Defaults to 8192.
        l2 (float): L2 weight (> 0 keeps separable classes finite).
            Defaults to 1e-4.
        max_iter (int): L-BFGS iterations per class. Defaults to 500.
        tol (float): Gradient tolerance (max-norm; L-BFGS also stops when
            the objective changes by less than 1e-12). Defaults to 1e-6.

    Returns:
        list[float]: The mean over classes of the objective before and after.
    """
    before, after = [], []
    for c in range(weight.shape[0]):
        x, y = sampler.sample_class(c, num_samples, generator)
        x, y = x.double(), y.double()
        w = weight[c].detach().double().clone()
        b = bias[c].detach().double().clone()
        before.append(float(
            F.binary_cross_entropy_with_logits(x @ w + b, y) +
            0.5 * l2 * w.dot(w)))
        with torch.enable_grad():
            after.append(_lbfgs_one_class(x, y, w, b, l2, max_iter, tol))
        weight[c] = w.to(weight.dtype)
        bias[c] = b.to(bias.dtype)
    return [sum(before) / len(before), sum(after) / len(after)]


@TASK_UTILS.register_module(name=['LBFGSMStep', 'lbfgs'])
class LBFGSMStep(BaseMStepSolver):
    """:func:`lbfgs_m_step` every round; the options are its own.

    Args:
        num_samples (int): Virtual samples per class. Defaults to 8192.
        l2 (float): L2 weight. Defaults to 1e-4.
        max_iter (int): L-BFGS iterations per class. Defaults to 500.
        tol (float): Gradient tolerance. Defaults to 1e-6.
    """

    def __init__(self, num_samples: int = 8192, l2: float = 1e-4,
                 max_iter: int = 500, tol: float = 1e-6) -> None:
        self.options = dict(num_samples=num_samples, l2=l2,
                            max_iter=max_iter, tol=tol)

    def fit(self, head, stats, sampler, generator) -> dict:
        losses = lbfgs_m_step(head.weight.data, head.bias.data, sampler,
                              generator, **self.options)
        return dict(losses=losses, unchanged=[])

    def log_message(self, out: dict, seconds: float):
        losses = out['losses']
        if not losses:
            return super().log_message(out, seconds)
        return (f': L-BFGS per class in {seconds:.1f}s, loss '
                f'{losses[0]:.4f} -> {losses[-1]:.4f}', losses[-1])
