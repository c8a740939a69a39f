"""The forward pass shared by ldr_mm's multi-label losses."""
from typing import Optional

import torch
import torch.nn as nn

from mmpretrain.models.losses.utils import weight_reduce_loss

from .utils import check_multilabel_inputs, check_reduction, expand_weight


class MultiLabelLoss(nn.Module):
    """Base of a multi-label loss with MMPretrain's loss interface.

    :meth:`forward` checks the inputs, resolves the reduction and multiplies
    by ``loss_weight``; a subclass computes the (N, C) element-wise loss in
    :meth:`elementwise_loss`, which is weighted and reduced by MMPretrain's
    ``weight_reduce_loss``, or overrides :meth:`reduced_loss` when the loss
    is not element-wise. Subclasses set ``self.reduction`` and
    ``self.loss_weight``; messages name the class.
    """

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """Loss of logits ``cls_score`` (N, C) against multi-hot ``label``.

        Args:
            cls_score (Tensor): (N, C) logits.
            label (Tensor): (N, C) targets in [0, 1].
            weight (Tensor, optional): Element-wise (N, C) or per-sample (N,)
                weight.
            avg_factor (float, optional): Divides the summed loss
                (``reduction='mean'``).
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The scalar loss, or (N, C) for ``reduction='none'``.
        """
        name = type(self).__name__
        label = check_multilabel_inputs(cls_score, label, name)
        reduction = check_reduction(reduction_override or self.reduction,
                                    name)
        return self.loss_weight * self.reduced_loss(
            cls_score, label, weight, reduction, avg_factor)

    def reduced_loss(self, cls_score: torch.Tensor, label: torch.Tensor,
                     weight: Optional[torch.Tensor], reduction: str,
                     avg_factor: Optional[float]) -> torch.Tensor:
        """The weighted, reduced loss before ``loss_weight`` (arguments as
        :meth:`forward`; ``label`` in the logits' dtype)."""
        loss = self.elementwise_loss(cls_score, label)
        return weight_reduce_loss(
            loss, weight=expand_weight(weight, loss), reduction=reduction,
            avg_factor=avg_factor)

    def elementwise_loss(self, cls_score: torch.Tensor,
                         label: torch.Tensor) -> torch.Tensor:
        """(N, C) loss of (N, C) logits against (N, C) targets."""
        raise NotImplementedError
