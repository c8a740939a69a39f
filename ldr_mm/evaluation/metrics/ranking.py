"""Per-class ROC AUC and average precision with head/tail group means."""
import numpy as np

from mmpretrain.registry import METRICS

from ldr_mm.evaluation.functional import (average_precision_per_class,
                                          roc_auc_per_class)
from .base import MultiLabelScoreMetric


@METRICS.register_module()
class MultiLabelAUC(MultiLabelScoreMetric):
    """Per-class ROC AUC, its mean and head/tail means (MMPretrain has none).

    Values are fractions in [0, 1], as in the paper's tables. A class with
    only positives or only negatives in the evaluated set is missing (NaN),
    left out of the means, and named in a warning.

    Keys: ``auc/mean``, ``auc/head``, ``auc/tail`` (+ ``auc/class/<name>``
    with ``per_class=True``).
    """
    default_prefix = 'auc'

    def per_class_values(self, scores, targets) -> np.ndarray:
        return roc_auc_per_class(scores, targets)


@METRICS.register_module()
class MultiLabelAP(MultiLabelScoreMetric):
    """Per-class average precision; ``mAP/mean`` is the paper's mAP.

    Tie-aware like scikit-learn and with the missing-class rule of
    :class:`MultiLabelAUC` (see :mod:`ldr_mm.evaluation.functional` for why
    MMPretrain's ``AveragePrecision`` is not reused). Fractions in [0, 1].

    Keys: ``mAP/mean``, ``mAP/head``, ``mAP/tail`` (+ per class).
    """
    default_prefix = 'mAP'

    def per_class_values(self, scores, targets) -> np.ndarray:
        return average_precision_per_class(scores, targets)
