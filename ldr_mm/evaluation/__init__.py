from . import metrics
from .functional import (average_precision_per_class, missing_classes,
                         roc_auc_per_class)
from .groups import head_tail_groups
from .metrics import *  # noqa: F401,F403
from .score_file import ScoreFile, ScoreFileError, labelled, read_score_file
from .thresholds import (Decisions, ThresholdFileError, choose_thresholds,
                         decide_samples, fixed_decisions, load_decision_file,
                         load_thresholds, resolve_thresholds, save_thresholds)

__all__ = ['average_precision_per_class', 'missing_classes',
           'roc_auc_per_class', 'head_tail_groups', 'ScoreFile',
           'ScoreFileError', 'labelled', 'read_score_file',
           'ThresholdFileError', 'choose_thresholds', 'load_thresholds',
           'resolve_thresholds', 'save_thresholds', 'Decisions',
           'load_decision_file', 'decide_samples', 'fixed_decisions'
           ] + list(metrics.__all__)
