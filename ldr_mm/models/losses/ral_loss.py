"""Robust asymmetric loss (Park et al., ICCV 2023 workshops)."""
import torch
import torch.nn.functional as F

from mmpretrain.registry import MODELS

from .base import MultiLabelLoss
from .utils import check_reduction


def robust_asymmetric_loss(logits: torch.Tensor, target: torch.Tensor,
                           gamma_pos: float, gamma_neg: float, clip: float,
                           lamb: float, epsilon_pos: float,
                           epsilon_pos_pow: float,
                           epsilon_neg: float) -> torch.Tensor:
    """Element-wise robust asymmetric loss (RAL).

    With p = sigmoid(x), the shifted probability p_m = max(p - m, 0)
    (m = ``clip``, ASL's probability margin) and q = 1 - p_m::

        L+ = -(1 - p)^g+ * [log p + e1 (1 - p) + (e2 / 2) (1 - p)^2]
        L- = -p_m^g- * (lamb - p) p^2 (lamb - q) * [log q + e3 q]
        l  = y L+ + (1 - y) L-

    i.e. ASL's asymmetric focusing (g+, g-) and clipping, a second-order
    Taylor ("polynomial") correction of the positive log-likelihood
    (e1 = ``epsilon_pos``, e2 = ``epsilon_pos_pow``, e3 = ``epsilon_neg``)
    and the Hill-style weight (lamb - p) p^2 of the negatives, exactly as in
    the authors' released implementation (see ``docs/baselines.md``).

    Args:
        logits (Tensor): (N, C) logits.
        target (Tensor): (N, C) targets in [0, 1].
        Others: see :class:`RobustAsymmetricLoss` (which holds the
            authors' defaults).

    Returns:
        Tensor: (N, C) loss per element.
    """
    x = logits.float() if logits.dtype in (torch.float16,
                                           torch.bfloat16) else logits
    target = target.to(x.dtype)
    p = torch.sigmoid(x)
    log_p = F.logsigmoid(x)
    if clip is not None and clip > 0:
        q = (torch.sigmoid(-x) + clip).clamp(max=1.0)
        log_q = torch.log(q)
    else:
        q = torch.sigmoid(-x)
        log_q = F.logsigmoid(-x)
    p_m = 1.0 - q
    one_minus_p = torch.sigmoid(-x)
    pos = -(one_minus_p.pow(gamma_pos)) * (
        log_p + epsilon_pos * one_minus_p +
        0.5 * epsilon_pos_pow * one_minus_p.pow(2))
    hill = (lamb - p) * p.pow(2) * (lamb - q)
    neg = -(p_m.pow(gamma_neg)) * hill * (log_q + epsilon_neg * q)
    return target * pos + (1.0 - target) * neg


@MODELS.register_module()
class RobustAsymmetricLoss(MultiLabelLoss):
    """Robust asymmetric loss (RAL) for long-tailed multi-label learning.

    Park, Park, Kim and Ryu, "Robust Asymmetric Loss for Multi-Label
    Long-Tailed Learning", ICCV 2023 workshops (CVAMD). ASL plus a Taylor
    polynomial correction of the positive term and a Hill-loss style weight
    of the negatives that makes the loss less sensitive to its many
    hyper-parameters. The formula is in :func:`robust_asymmetric_loss`.

    Element-wise, so it plugs into MMPretrain's multi-label heads like ASL:
    the head's ``avg_factor`` divides the summed loss (MMPretrain's
    ``MultiLabelLinearClsHead`` passes the batch size, ``LDRHead`` N x C).

    Args:
        gamma_pos (float): Focusing exponent of positives. Defaults to 0.
        gamma_neg (float): Focusing exponent of negatives. Defaults to 4.
        clip (float): Probability margin m of the negatives. Defaults to
            0.05.
        lamb (float): Hill weight lambda. Defaults to 1.5.
        epsilon_pos (float): First-order polynomial coefficient e1 of the
            positives. Defaults to 1.0.
        epsilon_pos_pow (float): Second-order coefficient e2. Defaults to
            -2.5.
        epsilon_neg (float): First-order coefficient e3 of the negatives.
            Defaults to 0.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Multiplier. Defaults to 1.0.

    The defaults are the authors' released settings.
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 clip: float = 0.05,
                 lamb: float = 1.5,
                 epsilon_pos: float = 1.0,
                 epsilon_pos_pow: float = -2.5,
                 epsilon_neg: float = 0.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if gamma_pos < 0 or gamma_neg < 0:
            raise ValueError('RobustAsymmetricLoss needs gamma_pos, '
                             f'gamma_neg >= 0, got {gamma_pos}, {gamma_neg}')
        if clip is not None and not 0 <= clip < 1:
            raise ValueError(f'RobustAsymmetricLoss needs 0 <= clip < 1, got '
                             f'{clip}')
        if lamb < 1:
            raise ValueError('RobustAsymmetricLoss needs lamb >= 1 (the Hill '
                             f'weight must stay positive), got {lamb}')
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.clip = clip
        self.lamb = float(lamb)
        self.epsilon_pos = float(epsilon_pos)
        self.epsilon_pos_pow = float(epsilon_pos_pow)
        self.epsilon_neg = float(epsilon_neg)
        self.reduction = check_reduction(reduction, 'RobustAsymmetricLoss')
        self.loss_weight = loss_weight

    def elementwise_loss(self, cls_score: torch.Tensor,
                         label: torch.Tensor) -> torch.Tensor:
        """(N, C) RAL (:func:`robust_asymmetric_loss`)."""
        return robust_asymmetric_loss(
            cls_score, label, self.gamma_pos, self.gamma_neg, self.clip,
            self.lamb, self.epsilon_pos, self.epsilon_pos_pow,
            self.epsilon_neg)
