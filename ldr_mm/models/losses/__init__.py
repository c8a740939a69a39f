from .gce_loss import MultiLabelGCELoss, multilabel_gce

__all__ = ['MultiLabelGCELoss', 'multilabel_gce']
from .db_loss import DistributionBalancedLoss  # noqa: E402
from .ral_loss import RobustAsymmetricLoss  # noqa: E402
from .twoway_loss import TwoWayMultiLabelLoss  # noqa: E402

__all__ += [
    'DistributionBalancedLoss', 'RobustAsymmetricLoss', 'TwoWayMultiLabelLoss'
]
