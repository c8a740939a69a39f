"""The ``'lda'`` M-step: the closed form of the Gaussian model.

The virtual features come from per-class, per-label Gaussians; their Bayes
classifier if both labels of class c shared one covariance is Fisher's LDA
with the mean covariance ``Sigma_c = (Sigma_c^0 + Sigma_c^1) / 2``
(``pooling='equal'``) or the classical within-class pooled one ``(n_c^0
Sigma_c^0 + n_c^1 Sigma_c^1) / (n_c^0 + n_c^1)`` (``pooling='weighted'``:
a tail class's few positives then barely enter its covariance)::

    w_c = Sigma_c^-1 (mu_c^1 - mu_c^0)
    b_c = log(p_c / (1 - p_c)) - w_c . (mu_c^1 + mu_c^0) / 2

with p_c the sampler's probability of label 1 (Eq. 12): the posterior
log-odds of the virtual data. No sampling at all. The solution is rescaled
to the norm of the head it replaces (``scale='head'``, :func:`lda_m_step`):
same boundary and rankings, no float32-saturated sigmoid scores; with
``blend < 1`` it is blended with the stage-1 head (:class:`LDAMStep` keeps
it as its anchor). Every rank computes the same; rank 0's result is then
broadcast.
"""
import math
from typing import List, Optional, Sequence

import torch

from mmpretrain.registry import TASK_UTILS

from ..statistics import GaussianStatistics
from .base import BaseMStepSolver


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
    ``anchor`` (the stage-1 head, which :class:`LDAMStep`
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
        w, b = _blend(w, b, stats, blend, anchor)
    if scale == 'head':
        old = weight.double().norm(dim=-1).to(w)
        new = w.norm(dim=-1)
        factor = torch.where((old > 0) & (new > 0), old / new,
                             torch.ones_like(new))
        w, b = w * factor.unsqueeze(-1), b * factor
    weight.copy_(torch.where(ok.unsqueeze(-1), w.to(weight), weight))
    bias.copy_(torch.where(ok, b.to(bias), bias))
    return (~ok).nonzero().flatten().tolist()


def _blend(w: torch.Tensor, b: torch.Tensor, stats: GaussianStatistics,
           blend: float, anchor: Optional[Sequence[torch.Tensor]]):
    """``(1 - blend) anchor / s_anchor + blend (w, b) / s_lda`` with each
    class's score std ``s`` (:func:`score_std`); w (C, D), b (C,)."""
    if anchor is None:
        raise ValueError("m_solver 'lda' with blend < 1 needs the "
                         'anchor head (the stage-1 weight and bias)')
    wa, ba = (t.to(w) for t in anchor)
    sa = score_std(wa, stats).clamp_min(1e-12)
    sl = score_std(torch.nan_to_num(w), stats).clamp_min(1e-12)
    w = (1 - blend) * wa / sa.unsqueeze(-1) + blend * w / sl.unsqueeze(-1)
    b = (1 - blend) * ba / sa + blend * b / sl
    return w, b


@TASK_UTILS.register_module(name=['LDAMStep', 'lda'])
class LDAMStep(BaseMStepSolver):
    """:func:`lda_m_step` every round.

    With ``blend < 1`` the head before the first :meth:`fit` (the stage-1
    head) is kept as the anchor every round blends with, and saved in the
    checkpoint state (``anchor_head``).

    Args:
        scale (str): ``'head'`` (default) or ``'none'``.
        pooling (str): ``'equal'`` (default) or ``'weighted'``.
        blend (float): Weight of the LDA classifier in [0, 1]. Defaults
            to 1.
    """

    def __init__(self, scale: str = 'head', pooling: str = 'equal',
                 blend: float = 1.0) -> None:
        for key, value in (('scale', scale), ('pooling', pooling),
                           ('blend', blend)):
            _check_lda_option(key, value)
        self.scale, self.pooling, self.blend = scale, pooling, blend
        self.anchor_head = None

    def fit(self, head, stats, sampler, generator) -> dict:
        if self.anchor_head is None and self.blend < 1:
            self.anchor_head = (head.weight.detach().cpu().clone(),
                                head.bias.detach().cpu().clone())
        unchanged = lda_m_step(head.weight.data, head.bias.data, stats,
                               sampler.prob, scale=self.scale,
                               pooling=self.pooling, blend=self.blend,
                               anchor=self.anchor_head)
        return dict(losses=[], unchanged=unchanged)

    def state_dict(self) -> dict:
        return dict(anchor_head=None if self.anchor_head is None else
                    [t.clone() for t in self.anchor_head])

    def load_state_dict(self, state: dict) -> None:
        anchor = state.get('anchor_head')
        self.anchor_head = None if anchor is None else tuple(
            t.clone() for t in anchor)
