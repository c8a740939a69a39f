from .functional import (average_precision_per_class, missing_classes,
                         roc_auc_per_class)
from .metrics import *  # noqa: F401,F403
