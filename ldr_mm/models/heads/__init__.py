from .label_mask import gt_mask_of, masked_loss
from .ldr_head import LDRHead
from .masked_linear_head import MaskedMultiLabelLinearClsHead
from .query2label_head import Query2LabelHead

__all__ = [
    'LDRHead', 'MaskedMultiLabelLinearClsHead', 'Query2LabelHead',
    'gt_mask_of', 'masked_loss'
]
