"""Distribution-balanced loss (Wu et al., ECCV 2020)."""
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from mmpretrain.registry import MODELS

from .base import MultiLabelLoss
from .utils import check_reduction

Counts = Union[Sequence[int], np.ndarray, torch.Tensor]


def rebalancing_weight(target: torch.Tensor, class_counts: torch.Tensor,
                       alpha: float, beta: float, mu: float) -> torch.Tensor:
    """Smoothed re-balancing weight r_hat (N, C) of DB loss (Eqs. 4-6).

    With n_c the training positives of class c, the class-aware re-sampling
    probability of class c is P^C_c = 1 / (C n_c) and the probability that
    instance k is drawn is P^I_k = (1 / C) sum_{c in y_k} 1 / n_c, so::

        r_kc     = P^C_c / P^I_k = (1 / n_c) / sum_{j: y_kj = 1} 1 / n_j
        r_hat_kc = alpha + sigmoid(beta * (r_kc - mu))

    The same weight applies to the positive and the negative entries of a
    sample. A sample without any positive label is never drawn by
    class-aware sampling (P^I_k = 0): we take the limit r -> inf, i.e.
    ``r_hat = alpha + 1`` (what the authors' code computes as well).
    """
    inv = 1.0 / class_counts.to(target.dtype)  # (C,)
    instance = (target * inv).sum(1, keepdim=True)  # (N, 1), C P^I_k
    r = inv.unsqueeze(0) / instance.clamp(min=torch.finfo(inv.dtype).tiny)
    r_hat = alpha + torch.sigmoid(beta * (r - mu))
    no_pos = instance <= 0
    return torch.where(no_pos, torch.full_like(r_hat, alpha + 1.0), r_hat)


def distribution_balanced_loss(logits: torch.Tensor,
                               target: torch.Tensor,
                               class_counts: torch.Tensor,
                               num_samples: Union[int, torch.Tensor],
                               gamma: float = 2.0,
                               neg_scale: float = 2.0,
                               init_bias: float = 0.05,
                               map_alpha: float = 0.1,
                               map_beta: float = 10.0,
                               map_mu: float = 0.2) -> torch.Tensor:
    """Element-wise DB loss (re-balanced weighting + negative-tolerant
    regularisation + focal modulation, the paper's Eq. 10).

    With z the logit, nu_c = kappa * log(1 / p_c - 1) (p_c = n_c / N the
    class prior, kappa = ``init_bias``; N = ``num_samples``, a number or a
    (C,) tensor: with U-Ignore masks N_c, the known labels of class c),
    lambda = ``neg_scale``::

        positives: r_hat * (1 - s)^gamma * softplus(-(z - nu)),
                   s = sigmoid(z - nu)
        negatives: r_hat / lambda * t^gamma * softplus(lambda (z - nu)),
                   t = sigmoid(lambda (z - nu))

    The shift -nu = kappa * b_hat, b_hat = -log(1/p - 1) the prior
    log-odds, lowers the logits of rare classes before the loss, so their
    many negatives are "tolerated" (the sign of the authors' code).

    Returns:
        Tensor: (N, C) loss per element.
    """
    x = logits.float() if logits.dtype in (torch.float16,
                                           torch.bfloat16) else logits
    target = target.to(x.dtype)
    counts = class_counts.to(device=x.device, dtype=x.dtype)
    N = num_samples.to(device=x.device, dtype=x.dtype) if isinstance(
        num_samples, torch.Tensor) else float(num_samples)
    prior = counts / N
    nu = init_bias * torch.log(1.0 / prior - 1.0)  # (C,)
    z = x - nu
    w = rebalancing_weight(target, counts, map_alpha, map_beta, map_mu)
    pos = (1 - torch.sigmoid(z)).pow(gamma) * F.softplus(-z)
    zn = neg_scale * z
    neg = torch.sigmoid(zn).pow(gamma) * F.softplus(zn) / neg_scale
    return w * (target * pos + (1 - target) * neg)


@MODELS.register_module()
class DistributionBalancedLoss(MultiLabelLoss):
    """Distribution-balanced loss (DB-Focal) of Wu et al. (ECCV 2020).

    "Distribution-Balanced Loss for Multi-Label Classification in
    Long-Tailed Datasets". Two parts on top of a sigmoid focal loss:

    * re-balanced weighting: each sample's entries are weighted by how much
      class-aware re-sampling over- or under-draws it because of label
      co-occurrence (:func:`rebalancing_weight`);
    * negative-tolerant regularisation: a class-specific logit shift from
      the class prior and a scale lambda of the negative logits
      (:func:`distribution_balanced_loss`).

    Both need the training set's positives per class n_c and its size N.
    Give them as ``class_counts`` / ``num_samples``, or leave them out and
    add ``dict(type='ClassFrequencyHook')`` to ``custom_hooks``: it fills
    them from ``runner.train_dataloader.dataset`` before training (the
    ``configs/baselines/dbloss_*`` configs do). Label co-occurrence enters
    through each batch's own label sets, so no co-occurrence matrix is
    needed.

    Element-wise: the head's ``avg_factor`` divides the summed loss.

    Args:
        class_counts (Sequence[int], optional): (C,) training positives.
        num_samples (int | Sequence[int], optional): N, training samples,
            or (C,) known labels per class (U-Ignore masks).
        gamma (float): Focal exponent. Defaults to 2.
        neg_scale (float): lambda. Defaults to 2.
        init_bias (float): kappa of the logit shift. Defaults to 0.05.
        map_alpha, map_beta, map_mu (float): Smoothing function of the
            re-balancing weight. Default to 0.1, 10, 0.2.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Multiplier. Defaults to 1.0 (the authors'
            configs use 2.0, their ``balance_param``).

    The defaults are those of the authors' released COCO-MLT / VOC-MLT
    configs.
    """

    def __init__(self,
                 class_counts: Optional[Counts] = None,
                 num_samples: Optional[Union[int, Counts]] = None,
                 gamma: float = 2.0,
                 neg_scale: float = 2.0,
                 init_bias: float = 0.05,
                 map_alpha: float = 0.1,
                 map_beta: float = 10.0,
                 map_mu: float = 0.2,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if gamma < 0 or neg_scale <= 0:
            raise ValueError('DistributionBalancedLoss needs gamma >= 0 and '
                             f'neg_scale > 0, got {gamma}, {neg_scale}')
        self.gamma = float(gamma)
        self.neg_scale = float(neg_scale)
        self.init_bias = float(init_bias)
        self.map_alpha = float(map_alpha)
        self.map_beta = float(map_beta)
        self.map_mu = float(map_mu)
        self.reduction = check_reduction(reduction,
                                         'DistributionBalancedLoss')
        self.loss_weight = loss_weight
        # not saved in checkpoints: ClassFrequencyHook refills them
        self.register_buffer('class_counts', None, persistent=False)
        self.register_buffer('known_counts', None, persistent=False)
        self.num_samples = None
        if (class_counts is None) != (num_samples is None):
            raise ValueError('DistributionBalancedLoss: give both '
                             'class_counts and num_samples, or neither '
                             '(then ClassFrequencyHook fills them)')
        if class_counts is not None:
            self.set_class_frequencies(class_counts, num_samples)

    @property
    def has_class_frequencies(self) -> bool:
        return self.class_counts is not None

    def set_class_frequencies(self,
                              class_counts: Counts,
                              num_samples: Union[int, Counts],
                              classes: Optional[Sequence[str]] = None,
                              source: str = 'class_counts') -> None:
        """Set the training positives per class n_c and the set size N.

        ``num_samples`` is N, or (C,) N_c, the known labels of each class
        with U-Ignore masks (:class:`~ldr_mm.engine.hooks.
        ClassFrequencyHook` counts them): the prior is then n_c / N_c, a
        masked label being neither a positive nor a negative.

        Raises:
            ValueError: A class has no positive or no negative sample (its
                prior log-odds are infinite; DB loss is undefined for it).
        """
        counts = torch.as_tensor(np.asarray(class_counts), dtype=torch.float64)
        if counts.dim() != 1:
            raise ValueError(f'{source}: class counts must be (C,), got '
                             f'shape {tuple(counts.shape)}')
        known = torch.as_tensor(np.asarray(num_samples), dtype=torch.float64)
        if known.dim() == 0:
            known = known.expand(counts.shape).clone()
        if known.shape != counts.shape:
            raise ValueError(f'{source}: num_samples must be a number or '
                             f'({counts.numel()},) known labels per class, '
                             f'got shape {tuple(known.shape)}')
        names = list(classes) if classes is not None else [
            str(i) for i in range(counts.numel())]
        bad = [i for i in range(counts.numel())
               if not 0 < float(counts[i]) < float(known[i])]
        if bad:
            found = ', '.join(f'{names[i]!r}: {int(counts[i])} of '
                              f'{int(known[i])}' for i in bad)
            raise ValueError(
                f'{source}: DistributionBalancedLoss needs every class to '
                'have positive and negative training samples; positives of '
                f'the known labels: {found}.')
        device = self.class_counts.device if self.class_counts is not None \
            else None
        self.class_counts = counts.to(torch.float32).to(device)
        self.known_counts = known.to(torch.float32).to(device)
        self.num_samples = int(known.max())

    def elementwise_loss(self, cls_score: torch.Tensor,
                         label: torch.Tensor) -> torch.Tensor:
        """(N, C) re-balanced loss; ``weight`` of :meth:`forward` (N, C) or
        (N,) multiplies it."""
        if self.class_counts is None:
            raise RuntimeError(
                'DistributionBalancedLoss has no class frequencies: add '
                "dict(type='ClassFrequencyHook') to custom_hooks (it reads "
                'them from the training set) or set class_counts and '
                'num_samples in the loss config.')
        if self.class_counts.numel() != cls_score.shape[1]:
            raise ValueError(
                f'DistributionBalancedLoss has counts for '
                f'{self.class_counts.numel()} classes but the logits have '
                f'{cls_score.shape[1]}')
        return distribution_balanced_loss(
            cls_score, label, self.class_counts, self.known_counts,
            self.gamma, self.neg_scale, self.init_bias, self.map_alpha,
            self.map_beta, self.map_mu)
