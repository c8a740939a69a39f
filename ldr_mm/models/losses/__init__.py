from .db_loss import DistributionBalancedLoss  # noqa: F401
from .ral_loss import RobustAsymmetricLoss  # noqa: F401
from .twoway_loss import TwoWayMultiLabelLoss  # noqa: F401
