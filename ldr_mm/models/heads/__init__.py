from .label_mask import MaskedLossMixin, gt_mask_of, masked_loss
from .ldr_head import LDRHead
from .masked_csra_head import MaskedCSRAClsHead
from .masked_linear_head import MaskedMultiLabelLinearClsHead
from .query2label_head import Query2LabelHead

__all__ = [
    'LDRHead', 'MaskedCSRAClsHead', 'MaskedLossMixin',
    'MaskedMultiLabelLinearClsHead', 'Query2LabelHead', 'gt_mask_of',
    'masked_loss'
]
