"""Multi-label generalized cross entropy (stage-2 E-step loss)."""
import torch
import torch.nn.functional as F

from mmpretrain.registry import MODELS

from .base import MultiLabelLoss
from .utils import check_reduction


def multilabel_gce(logits: torch.Tensor, target: torch.Tensor,
                   q: float) -> torch.Tensor:
    """Element-wise sigmoid GCE of Zhang & Sabuncu (2018), per class.

    ``l = [y (1 - p^q) + (1 - y) (1 - (1 - p)^q)] / q`` with
    ``p = sigmoid(logit)``. Computed in log space::

        1 - p^q       = -expm1(q * logsigmoid(x))
        1 - (1 - p)^q = -expm1(q * logsigmoid(-x))

    so there is no ``0 ** (q - 1)`` anywhere: the value and gradient are
    finite for every finite logit (no clamping of ``p`` needed, and none
    that would zero the gradient of confident mistakes), and small ``q``
    loses no precision (``expm1``), so ``q -> 0`` converges to BCE.

    Args:
        logits (Tensor): (N, C) logits (any shape works).
        target (Tensor): Same shape, values in [0, 1] (soft targets give the
            convex combination of the two terms).
        q (float): In (0, 1]. q -> 0 gives BCE, q = 1 gives MAE
            (``y (1 - p) + (1 - y) p``).

    Returns:
        Tensor: Loss per element, same shape as ``logits``, float32 or wider.
    """
    x = logits.float() if logits.dtype in (torch.float16,
                                           torch.bfloat16) else logits
    target = target.to(x.dtype)
    pos = -torch.expm1(q * F.logsigmoid(x)) / q
    neg = -torch.expm1(q * F.logsigmoid(-x)) / q
    return target * pos + (1 - target) * neg


@MODELS.register_module()
class MultiLabelGCELoss(MultiLabelLoss):
    """Multi-label generalized cross entropy (LDRNet's E-step loss, Eq. 16).

    The paper's Eq. 16 is garbled as printed (and its claim that q = 1 gives
    BCE is backwards); we use the sigmoid form of GCE per class, see
    :func:`multilabel_gce` and ``docs/stage2.md``.

    Same call signature as MMPretrain's losses, so :class:`LDRHead` uses it
    through ``loss=dict(type='MultiLabelGCELoss', q=0.8)`` and averages over
    N x C via ``avg_factor``.

    Args:
        q (float): In (0, 1]. Defaults to 0.8 (the paper's choice).
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 q: float = 0.8,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if not 0 < q <= 1:
            raise ValueError(f'MultiLabelGCELoss needs 0 < q <= 1, got {q} '
                             '(q -> 0 is BCE, q = 1 is MAE)')
        self.q = float(q)
        self.reduction = check_reduction(reduction, 'MultiLabelGCELoss')
        self.loss_weight = loss_weight

    def elementwise_loss(self, cls_score: torch.Tensor,
                         label: torch.Tensor) -> torch.Tensor:
        """(N, C) GCE loss (:func:`multilabel_gce`)."""
        return multilabel_gce(cls_score, label, self.q)
