from . import metrics
from .functional import (average_precision_per_class, missing_classes,
                         roc_auc_per_class)
from .metrics import *  # noqa: F401,F403

__all__ = ['average_precision_per_class', 'missing_classes',
           'roc_auc_per_class'] + list(metrics.__all__)
