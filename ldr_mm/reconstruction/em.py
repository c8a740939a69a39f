"""The M-step of stage 2: the classifier fitted to the Gaussian statistics.

Three solvers for the group-wise linear classifier ``logit_c = <w_c, x_c> +
b_c`` (weight (C, D), bias (C,)); each is a plain function of the head, the
fitted :class:`~ldr_mm.reconstruction.ReverseSampler` and a
``torch.Generator``, testable without a runner (:func:`run_m_step` picks one
by name):

* ``'sgd'`` (:func:`sgd_m_step`): ``m_iters`` optimiser steps on batches of
  virtual features with the M-step loss (BCE) -- the implementation the
  paper's text suggests, far from its own optimum on ill-conditioned
  statistics;
* ``'lbfgs'`` (:func:`lbfgs_m_step`): the paper's objective, mean BCE on a
  fixed set of virtual features (+ a tiny L2 ``l2 / 2 ||w_c||^2`` that
  keeps separable classes finite), solved to convergence with torch's
  L-BFGS, one class at a time (the classes are independent: the head is
  group-wise), in float64, warm-started from the current head;
* ``'lda'`` (:func:`lda_classifier`): the closed form of the Gaussian model
  the virtual features come from, Fisher's LDA with the mean covariance
  ``Sigma_c = (Sigma_c^0 + Sigma_c^1) / 2`` (``pooling='equal'``) or the
  classical within-class pooled one ``(n_c^0 Sigma_c^0 + n_c^1 Sigma_c^1) /
  (n_c^0 + n_c^1)`` (``pooling='weighted'``: a tail class's few positives
  then barely enter its covariance)::

      w_c = Sigma_c^-1 (mu_c^1 - mu_c^0)
      b_c = log(p_c / (1 - p_c)) - w_c . (mu_c^1 + mu_c^0) / 2

  with p_c the sampler's probability of label 1 (Eq. 12): the Bayes
  posterior log-odds of the virtual data if both labels shared Sigma_c. No
  sampling at all. The solution is rescaled to the norm of the head it
  replaces (``scale='head'``, :func:`lda_m_step`): same boundary and
  rankings, no float32-saturated sigmoid scores.

Under DDP ``'sgd'`` draws different virtual samples per rank and averages
the head gradients (``mmengine.dist.all_reduce_params(op='mean')``); the
deterministic solvers draw the same samples on every rank (the caller seeds
them rank-independently) and :func:`broadcast_head` then copies rank 0's
result, so all ranks hold bit-identical heads.
"""
import math
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce_params, broadcast, get_world_size

from .sampler import ReverseSampler
from .statistics import GaussianStatistics

M_SOLVERS = ('sgd', 'lbfgs', 'lda')


def sgd_m_step(classify: Callable[[torch.Tensor], torch.Tensor],
               params: Sequence[torch.nn.Parameter],
               sampler: ReverseSampler,
               optim_wrapper,
               loss_fn: Callable,
               iters: int,
               batch_size: int,
               generator: torch.Generator) -> List[float]:
    """``iters`` optimiser steps of the classifier on virtual batches.

    Args:
        classify (callable): Logits (B, C) of features (B, C, D).
        params (Sequence[Parameter]): The classifier's parameters (trainable
            inside the call); their gradients are averaged over ranks.
        sampler (ReverseSampler): Fitted.
        optim_wrapper (OptimWrapper): Over ``params``.
        loss_fn (callable): ``loss_fn(logits, labels, avg_factor=B*C)``.
        iters (int): Steps.
        batch_size (int): Virtual samples per step.
        generator (torch.Generator): Source of the virtual samples.

    Returns:
        list[float]: The loss of every step.
    """
    losses = []
    world = get_world_size()
    for _ in range(iters):
        x, y = sampler.sample(batch_size, generator)
        logits = classify(x)
        loss = loss_fn(logits, y, avg_factor=logits.numel())
        optim_wrapper.zero_grad()
        optim_wrapper.backward(loss)
        if world > 1:
            all_reduce_params([p.grad for p in params], op='mean')
        optim_wrapper.step()
        losses.append(float(loss.detach()))
    optim_wrapper.zero_grad()
    return losses


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


#: Options of the 'lda' solver and their values: the shared covariance
#: (:func:`lda_classifier`), the rescaling and the blend with the stage-1
#: head (:func:`lda_m_step`; ``blend`` is a number in [0, 1]).
LDA_OPTIONS = dict(pooling=('equal', 'weighted'), scale=('head', 'none'),
                   blend='a number in [0, 1]')


def _check_lda_option(key: str, value) -> None:
    if key == 'blend':
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and 0 <= value <= 1)
    else:
        ok = value in LDA_OPTIONS[key]
    if not ok:
        raise ValueError(f"m_solver 'lda': {key} must be "
                         f'{"one of " if key != "blend" else ""}'
                         f'{LDA_OPTIONS[key]}, got {value!r}')


@torch.no_grad()
def score_std(weight: torch.Tensor, stats: GaussianStatistics) -> torch.Tensor:
    """Std of each class's score ``<w_c, x>`` over its two Gaussians.

    The mixture of ``N(mu_c^0, Sigma_c^0)`` and ``N(mu_c^1, Sigma_c^1)``
    weighted by the counts ``n_c^j``: ``pi_0 w' S0 w + pi_1 w' S1 w + pi_0
    pi_1 (w' (mu^1 - mu^0))^2``.

    Args:
        weight (Tensor): (C, D).
        stats (GaussianStatistics): The estimate.

    Returns:
        Tensor: (C,) float64 standard deviations.
    """
    w = weight.to(stats.mean)
    if stats.cov_type == 'diag':
        quad = (w.unsqueeze(1)**2 * stats.cov).sum(-1)  # (C, 2)
    else:
        quad = torch.einsum('cd,cjde,ce->cj', w, stats.cov, w)
    n = stats.counts.to(w)
    pi = n / n.sum(1, keepdim=True).clamp_min(1)
    gap = (w * (stats.mean[:, 1] - stats.mean[:, 0])).sum(-1)
    var = (pi * quad).sum(1) + pi[:, 0] * pi[:, 1] * gap**2
    return var.clamp_min(0).sqrt()


@torch.no_grad()
def lda_classifier(stats: GaussianStatistics, prob: torch.Tensor,
                   pooling: str = 'equal'):
    """Fisher LDA weights and prior-corrected biases (module docstring).

    Args:
        stats (GaussianStatistics): The (regularised) estimate.
        prob (Tensor): (C,) probability of label 1 in the virtual data.
        pooling (str): The shared covariance: ``'equal'`` (default) the mean
            of the two labels', ``'weighted'`` weighted by their counts.

    Returns:
        tuple[Tensor, Tensor, BoolTensor]: weight (C, D), bias (C,) in
        float64, and (C,) whether class c has both Gaussians and
        0 < p_c < 1 (elsewhere weight and bias are NaN: keep the old ones).
    """
    _check_lda_option('pooling', pooling)
    mean = stats.mean
    diff = mean[:, 1] - mean[:, 0]  # (C, D)
    if pooling == 'equal':
        w1 = torch.full((mean.shape[0], ), 0.5, dtype=mean.dtype,
                        device=mean.device)
    else:
        n = stats.counts.to(mean)
        w1 = n[:, 1] / n.sum(1).clamp_min(1)
    w1 = w1.view(-1, *([1] * (stats.cov.dim() - 2)))
    cov = (1 - w1) * stats.cov[:, 0] + w1 * stats.cov[:, 1]
    if stats.cov_type == 'diag':
        weight = diff / cov
    else:
        chol = torch.linalg.cholesky(cov)  # SPD: ridge > 0
        weight = torch.cholesky_solve(diff.unsqueeze(-1), chol).squeeze(-1)
    p = prob.to(mean).clamp(0, 1)
    ok = stats.valid.all(1).to(mean.device) & (p > 0) & (p < 1)
    log_odds = torch.log(p) - torch.log1p(-p)
    bias = log_odds - (weight * (mean[:, 1] + mean[:, 0])).sum(-1) / 2
    nan = torch.tensor(math.nan, dtype=mean.dtype, device=mean.device)
    weight = torch.where(ok.unsqueeze(-1), weight, nan)
    bias = torch.where(ok, bias, nan)
    return weight, bias, ok


@torch.no_grad()
def lda_m_step(weight: torch.Tensor, bias: torch.Tensor,
               stats: GaussianStatistics, prob: torch.Tensor,
               scale: str = 'head', pooling: str = 'equal',
               blend: float = 1.0,
               anchor: Optional[Sequence[torch.Tensor]] = None) -> List[int]:
    """Set (weight, bias) in place to :func:`lda_classifier`'s solution.

    With ``blend < 1`` the solution is a blend of the LDA classifier and
    ``anchor`` (the stage-1 head, which :class:`~ldr_mm.engine.EMTrainLoop`
    keeps from before round 1): each is divided by the std of its scores
    over the class's two Gaussians (:func:`score_std`), so both scores are
    on one scale, and the logit is ``(1 - blend) z_anchor / s_anchor +
    blend z_lda / s_lda``: an ensemble of the discriminative head trained on
    real images and the generative one of the statistics. ``blend=1``
    (default) is the LDA classifier alone, ``0`` the anchor's ranking.

    Args:
        weight (Tensor): (C, D) the head's weight, updated in place.
        bias (Tensor): (C,) the head's bias, updated in place.
        stats (GaussianStatistics): The round's estimate.
        prob (Tensor): (C,) the sampler's probability of label 1.
        scale (str): ``'head'`` (default): rescale each class's solution
            ``(w_c, b_c)`` by ``||weight_c|| / ||w_c||``, the norm of the
            head it replaces (the stage-1 head's, trained on real images),
            which keeps the decision boundary ``w_c . x + b_c = 0`` and every
            ranking (AUC, AP) but not the Gaussian model's confidence: on
            well-separated training statistics the raw solution's logits
            grow until a float32 sigmoid saturates to exactly 0 / 1 and
            ties the scores the metrics rank (measured: docs/recipe.md,
            "the LDA M-step's logits saturated float32 sigmoids").
            ``'none'``: the raw closed form.
        pooling (str): Of :func:`lda_classifier`.
        blend (float): Weight of the LDA classifier in [0, 1].
        anchor (tuple[Tensor, Tensor], optional): (C, D) weight and (C,)
            bias blended with; required when ``blend < 1``.

    Returns:
        list[int]: Classes left unchanged (a label without samples, or
        p_c in {0, 1}).
    """
    _check_lda_option('scale', scale)
    _check_lda_option('blend', blend)
    w, b, ok = lda_classifier(stats, prob, pooling)
    ok = ok.to(weight.device)
    if blend < 1:
        if anchor is None:
            raise ValueError("m_solver 'lda' with blend < 1 needs the "
                             'anchor head (the stage-1 weight and bias)')
        wa, ba = (t.to(w) for t in anchor)
        sa = score_std(wa, stats).clamp_min(1e-12)
        sl = score_std(torch.nan_to_num(w), stats).clamp_min(1e-12)
        w = (1 - blend) * wa / sa.unsqueeze(-1) + blend * w / sl.unsqueeze(-1)
        b = (1 - blend) * ba / sa + blend * b / sl
    if scale == 'head':
        old = weight.double().norm(dim=-1).to(w)
        new = w.norm(dim=-1)
        factor = torch.where((old > 0) & (new > 0), old / new,
                             torch.ones_like(new))
        w, b = w * factor.unsqueeze(-1), b * factor
    weight.copy_(torch.where(ok.unsqueeze(-1), w.to(weight), weight))
    bias.copy_(torch.where(ok, b.to(bias), bias))
    return (~ok).nonzero().flatten().tolist()


def broadcast_head(params: Sequence[torch.Tensor], src: int = 0) -> None:
    """Copy ``params`` from rank ``src`` to all ranks (no-op alone)."""
    if get_world_size() > 1:
        for p in params:
            broadcast(p.data, src=src)


def check_m_solver(m_solver) -> dict:
    """Normalise ``m_solver``: a name or ``dict(type=name, **options)``.

    Returns:
        dict: ``type`` and the solver's options.

    Raises:
        ValueError: Unknown solver or option.
    """
    cfg = dict(type=m_solver) if isinstance(m_solver, str) else dict(
        m_solver or {})
    kind = cfg.get('type')
    if kind not in M_SOLVERS:
        raise ValueError(f'm_solver must be one of {M_SOLVERS} (or a dict '
                         f'with that type), got {m_solver!r}')
    allowed = {'sgd': set(), 'lda': {'scale', 'pooling', 'blend'},
               'lbfgs': {'num_samples', 'l2', 'max_iter', 'tol'}}[kind]
    unknown = set(cfg) - allowed - {'type'}
    if unknown:
        raise ValueError(f'm_solver {kind!r} has no options '
                         f'{sorted(unknown)}; it takes {sorted(allowed)}')
    if kind == 'lda':
        for key in set(cfg) & set(LDA_OPTIONS):
            _check_lda_option(key, cfg[key])
    return cfg


def run_m_step(model,
               sampler: ReverseSampler,
               stats: GaussianStatistics,
               m_solver: dict,
               generator: torch.Generator,
               optim_wrapper=None,
               loss_fn: Optional[Callable] = None,
               iters: int = 0,
               batch_size: int = 32,
               anchor: Optional[Sequence[torch.Tensor]] = None) -> dict:
    """One M-step of ``model``'s classifier with the chosen solver.

    Args:
        model: An unwrapped :class:`~ldr_mm.models.LDRStage2Classifier`.
        sampler (ReverseSampler): Fitted to ``stats``.
        stats (GaussianStatistics): The round's estimate.
        m_solver (dict): From :func:`check_m_solver`.
        generator (torch.Generator): Virtual samples ('sgd': per rank;
            'lbfgs': the same on every rank).
        optim_wrapper, loss_fn, iters, batch_size: Of :func:`sgd_m_step`.
        anchor (tuple[Tensor, Tensor], optional): The stage-1 head, for
            'lda' with ``blend < 1`` (:func:`lda_m_step`).

    Returns:
        dict: ``losses`` (list[float]: per step for 'sgd', before/after for
        'lbfgs', empty for 'lda') and ``unchanged`` (classes 'lda' kept).
    """
    cfg = dict(m_solver)
    kind = cfg.pop('type')
    head = model.head
    with model.classifier_trainable() as params:
        if kind == 'sgd':
            losses = sgd_m_step(model.classify_features, params, sampler,
                                optim_wrapper, loss_fn, iters, batch_size,
                                generator)
            return dict(losses=losses, unchanged=[])
        if kind == 'lbfgs':
            losses = lbfgs_m_step(head.weight.data, head.bias.data, sampler,
                                  generator, **cfg)
            unchanged = []
        else:
            losses = []
            unchanged = lda_m_step(head.weight.data, head.bias.data, stats,
                                   sampler.prob, anchor=anchor, **cfg)
        broadcast_head(params)
    return dict(losses=losses, unchanged=unchanged)
