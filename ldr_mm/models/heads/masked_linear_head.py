"""MMPretrain's multi-label linear head with U-Ignore masks in its loss."""
from typing import List

import torch

from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample, label_to_onehot

from .label_mask import gt_mask_of, masked_loss


@MODELS.register_module()
class MaskedMultiLabelLinearClsHead(MultiLabelLinearClsHead):
    """:class:`MultiLabelLinearClsHead` whose loss honours ``gt_mask``.

    The baselines' head (pooled features (B, D) -> logits (B, C)) for
    datasets with ``uncertain='ignore'``: masked entries add no loss. The
    normaliser stays MMPretrain's (the batch size), so without masks the
    loss equals the parent's. MMPretrain's own head ignores ``gt_mask``.
    """

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        mask = gt_mask_of(data_samples, self.num_classes, cls_score.device)
        if mask is None:
            return super()._get_loss(cls_score, data_samples, **kwargs)
        num_classes = cls_score.size(-1)
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score.float() for s in data_samples])
        else:
            target = torch.stack([
                label_to_onehot(s.gt_label, num_classes)
                for s in data_samples
            ]).float()
        target = target.to(cls_score.device)
        return dict(loss=masked_loss(self.loss_module, cls_score, target,
                                     mask, avg_factor=cls_score.size(0),
                                     **kwargs))
