"""MMPretrain's multi-label linear head with U-Ignore masks in its loss."""
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS

from .label_mask import MaskedLossMixin


@MODELS.register_module()
class MaskedMultiLabelLinearClsHead(MaskedLossMixin, MultiLabelLinearClsHead):
    """:class:`MultiLabelLinearClsHead` whose loss honours ``gt_mask``.

    The baselines' head (pooled features (B, D) -> logits (B, C)) for
    datasets with ``uncertain='ignore'``: masked entries add no loss. The
    normaliser stays MMPretrain's (the batch size), so without masks the
    loss equals the parent's. MMPretrain's own head ignores ``gt_mask``.
    """
