"""Per-class accuracy (the paper's mACC) and balanced accuracy."""
import numpy as np

from mmpretrain.registry import METRICS

from ldr_mm.evaluation.functional import has_masked, missing_classes
from .base import MultiLabelScoreMetric
from .label_mask import masked_per_class


def accuracy_per_class(scores, targets, thr: float = 0.5) -> np.ndarray:
    """(C,) fraction of samples whose thresholded score equals the label.

    A sample is predicted positive when ``score >= thr`` (MMPretrain's
    ``MultiLabelMetric`` rule), compared in the scores' own precision (a
    float32 score 0.7 is >= 0.7). Defined for every class, also one with a
    single label value in the evaluated set. A masked target (-1) is left
    out of its class.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets)
    if has_masked(targets):
        return masked_per_class(
            lambda s, t: accuracy_per_class(s, t, thr), scores, targets)
    return ((scores >= thr) == (targets > 0)).mean(0)


def balanced_accuracy_per_class(scores, targets,
                                thr: float = 0.5) -> np.ndarray:
    """(C,) mean of sensitivity and specificity at ``score >= thr``.

    NaN for a class with only positives or only negatives (sensitivity or
    specificity is undefined there), like the ranking metrics. A masked
    target (-1) is left out of its class.
    """
    scores = np.asarray(scores)
    if has_masked(targets):
        return masked_per_class(
            lambda s, t: balanced_accuracy_per_class(s, t, thr), scores,
            np.asarray(targets))
    t = np.asarray(targets) > 0
    pred = scores >= thr
    pos = t.sum(0)
    neg = t.shape[0] - pos
    with np.errstate(divide='ignore', invalid='ignore'):
        tpr = (pred & t).sum(0) / pos
        tnr = (~pred & ~t).sum(0) / neg
    out = (tpr + tnr) / 2.0
    out[missing_classes(t.astype(np.int64))] = np.nan
    return out


class ThresholdedScoreMetric(MultiLabelScoreMetric):
    """A per-class metric of the thresholded scores (``score >= thr``).

    A subclass sets ``per_class_fn``, ``(scores, targets, thr) -> (C,)``
    values (as :func:`accuracy_per_class`).

    Args:
        thr (float): Score threshold. Defaults to 0.5.
        **kwargs: See :class:`MultiLabelScoreMetric`.
    """
    per_class_fn = None

    def __init__(self, thr: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.thr = thr

    def per_class_values(self, scores, targets) -> np.ndarray:
        return self.per_class_fn(scores, targets, self.thr)


@METRICS.register_module()
class MultiLabelAccuracy(ThresholdedScoreMetric):
    """Mean per-class accuracy at a threshold: the paper's **mACC**.

    The paper's "mean accuracy over categories" is read as: for each class,
    the fraction of samples whose prediction (``score >= thr``) equals the
    label; then the mean over classes. On long-tailed data this is dominated
    by the many negatives of tail classes, so
    :class:`MultiLabelBalancedAccuracy` is reported beside it.

    Keys: ``mACC/mean``, ``mACC/head``, ``mACC/tail`` (+ ``mACC/class/<name>``
    with ``per_class=True``). Fractions in [0, 1].

    Args: as :class:`ThresholdedScoreMetric`.
    """
    default_prefix = 'mACC'
    per_class_fn = staticmethod(accuracy_per_class)


@METRICS.register_module()
class MultiLabelBalancedAccuracy(ThresholdedScoreMetric):
    """Mean per-class balanced accuracy, (sensitivity + specificity) / 2.

    Shown beside the paper's mACC (:class:`MultiLabelAccuracy`): it is not
    inflated by the negatives of rare classes. A class with only one label
    value in the evaluated set is missing (NaN), left out of the means and
    named in a warning.

    Keys: ``bACC/mean``, ``bACC/head``, ``bACC/tail`` (+ per class).

    Args: as :class:`ThresholdedScoreMetric`.
    """
    default_prefix = 'bACC'
    per_class_fn = staticmethod(balanced_accuracy_per_class)
