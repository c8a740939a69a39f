from .label_mask import gt_mask_of, masked_loss
from .ldr_head import LDRHead
from .masked_linear_head import MaskedMultiLabelLinearClsHead

__all__ = [
    'LDRHead', 'MaskedMultiLabelLinearClsHead', 'gt_mask_of', 'masked_loss'
]
