from .db_loss import DistributionBalancedLoss
from .gce_loss import MultiLabelGCELoss, multilabel_gce
from .ral_loss import RobustAsymmetricLoss
from .twoway_loss import TwoWayMultiLabelLoss

__all__ = [
    'MultiLabelGCELoss', 'multilabel_gce', 'DistributionBalancedLoss',
    'RobustAsymmetricLoss', 'TwoWayMultiLabelLoss'
]
