"""The official ODIR-2019 challenge score (kappa, F1, AUC, final)."""
import math
from typing import Dict, List, Optional

import numpy as np
from mmengine.logging import MMLogger

from mmpretrain.registry import METRICS

from ldr_mm.evaluation.functional import roc_auc_per_class
from ldr_mm.evaluation.groups import head_tail_groups
from .base import MultiLabelScoreMetric
from .label_mask import known_cells


def cohen_kappa_binary(y_true, y_pred) -> float:
    """Cohen's kappa of two 0/1 vectors; NaN when chance agreement is 1."""
    t = np.asarray(y_true).ravel() > 0
    p = np.asarray(y_pred).ravel() > 0
    n = t.size
    if n == 0:
        return math.nan
    po = float((t == p).mean())
    pt, pp = t.mean(), p.mean()
    pe = float(pt * pp + (1 - pt) * (1 - pp))
    if pe >= 1.0:
        return math.nan
    return (po - pe) / (1.0 - pe)


def odir_score(scores, targets, thr: float = 0.5) -> Dict[str, float]:
    """ODIR-2019's official score of (N, C) scores and 0/1 labels.

    As the challenge's evaluation code: both matrices are flattened to
    N*C values; ``kappa`` is Cohen's kappa and ``f1`` scikit-learn's
    ``f1_score(..., average='micro')`` of the labels against
    ``score > thr`` (strict), ``auc`` the ROC AUC of the scores, and
    ``final = (kappa + f1 + auc) / 3``.

    Note: on flattened 0/1 vectors, micro-averaged F1 over both label
    values equals plain accuracy; the official code computes exactly that,
    so ``f1`` reproduces the leaderboard numbers. ``f1_pos`` is the F1 of
    the positive value (a real F1), reported beside it for reference.
    Masked cells (target -1, U-Ignore) are left out of the flattened
    vectors.

    Returns:
        dict: ``kappa``, ``f1``, ``auc``, ``final``, ``f1_pos``; NaN where
        undefined (e.g. AUC when all labels are equal).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(targets).ravel()
    if s.shape != t.shape:
        raise ValueError(f'scores {np.shape(scores)} and targets '
                         f'{np.shape(targets)} differ')
    known = known_cells(t)  # a masked cell (-1) is left out
    s, t = s[known], t[known] > 0
    pred = s > thr
    kappa = cohen_kappa_binary(t, pred)
    f1 = float((pred == t).mean()) if t.size else math.nan
    tp = float((pred & t).sum())
    denom = float(pred.sum() + t.sum())
    f1_pos = 2 * tp / denom if denom > 0 else math.nan
    auc = float(roc_auc_per_class(s[:, None], t[:, None].astype(
        np.int64))[0]) if t.size else math.nan
    return dict(kappa=kappa, f1=f1, auc=auc, final=(kappa + f1 + auc) / 3.0,
                f1_pos=f1_pos)


@METRICS.register_module()
class ODIRMetric(MultiLabelScoreMetric):
    """The official ODIR-5K score, per patient.

    The ODIR labels are per patient, so the score is computed on one row
    per patient: with ``aggregate_by='patient_id'`` (default) the scores of
    a patient's samples (the two eyes in ``ODIR5K(mode='eye')``) are merged
    per class: the dataset's ``class_aggregate`` (``ODIR5K``: ``N`` takes
    the minimum, since a patient is normal only if both eyes are) and
    ``aggregate`` (max by default: a disease seen in either eye is the
    patient's) for the others. Samples already per patient
    (``mode='patient'``) pass through unchanged. See :func:`odir_score` for
    the formula.

    Keys: ``odir/kappa``, ``odir/f1``, ``odir/auc``, ``odir/final``,
    ``odir/f1_pos``; the same on the head / tail classes' columns only as
    ``odir/head/<name>`` and ``odir/tail/<name>``; with ``per_class=True``
    also ``odir/class/<class>/<name>`` on each column.

    Args:
        thr (float): Threshold of the strict ``score > thr`` prediction.
            Defaults to 0.5.
        aggregate_by (str, optional): Defaults to ``'patient_id'``.
        **kwargs: See :class:`MultiLabelScoreMetric`.
    """
    default_prefix = 'odir'

    def __init__(self, thr: float = 0.5,
                 aggregate_by: Optional[str] = 'patient_id', **kwargs):
        super().__init__(aggregate_by=aggregate_by, **kwargs)
        self.thr = thr

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        scores, targets = self.stack(results)
        classes, head, tail = self.groups
        C = scores.shape[1]
        classes = list(classes) if classes and len(classes) == C else [
            str(i) for i in range(C)
        ]
        out = dict(odir_score(scores, targets, self.thr))
        groups = head_tail_groups(classes, head, tail)
        for group in ('head', 'tail'):
            cols = groups.get(group)
            if not cols:
                continue
            for k, v in odir_score(scores[:, cols], targets[:, cols],
                                   self.thr).items():
                out[f'{group}/{k}'] = v
        if self.per_class:
            for i, c in enumerate(classes):
                for k, v in odir_score(scores[:, i], targets[:, i],
                                       self.thr).items():
                    out[f'class/{c}/{k}'] = v
        undefined = sorted(k for k, v in out.items()
                           if isinstance(v, float) and math.isnan(v)
                           and not k.startswith('class/'))
        if undefined:
            MMLogger.get_current_instance().warning(
                f'ODIRMetric: {undefined} undefined on {scores.shape[0]} '
                'patients (only one label value); reported as NaN.')
        return out
