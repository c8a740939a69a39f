from . import metrics
from .functional import (average_precision_per_class, missing_classes,
                         roc_auc_per_class)
from .groups import head_tail_groups
from .metrics import *  # noqa: F401,F403

__all__ = ['average_precision_per_class', 'missing_classes',
           'roc_auc_per_class', 'head_tail_groups'] + list(metrics.__all__)
