"""Clinical reporting: operating-point metrics, bootstrap intervals, curves.

All functions take (N, C) scores and targets (one column per class) and
work on every class at once. A target is 1, 0 or -1: a masked (uncertain,
U-Ignore) cell, left out of its class everywhere, as if that image were not
in the evaluated set for that class
(:mod:`~ldr_mm.evaluation.metrics.label_mask`). A class is predicted
positive when ``score >= threshold`` (the heads' rule). Undefined values
are NaN, never 0: the sensitivity of a class without positives, the PPV
of a class without positive calls, and so on.

Bootstrap intervals resample the N rows with replacement. A resample is
evaluated as integer weights on the original rows (how often each row was
drawn), with the rows sorted once: the weighted AUC / AP of a resample equal
the plain ones of the resampled data (tested against scikit-learn on the
drawn indices) at a fraction of the cost of sorting every resample. A
masked cell has weight 0 in every resample: the resample of a class is its
drawn rows whose label is known.
"""
from typing import Dict, Iterator, Optional, Sequence

import numpy as np

from .functional import _as_2d, _group_ends
from .groups import head_tail_groups
from .metrics.label_mask import known_cells

#: Operating-point metrics of :func:`threshold_metrics`, in table order.
OPERATING_POINT_KEYS = ('sens', 'spec', 'ppv', 'npv', 'f1')


def _as_thresholds(thresholds, num_classes: int) -> np.ndarray:
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64),
                          (num_classes, )).copy()
    if not np.isfinite(thr).all():
        raise ValueError(f'thresholds must be finite, got {thr.tolist()}')
    return thr


def confusion_counts(scores, targets, thresholds=0.5) -> Dict[str, np.ndarray]:
    """Per-class 2x2 tables at ``score >= threshold``.

    Args:
        scores: (N, C) scores.
        targets: (N, C) labels, 1, 0 or -1 (masked: in no cell).
        thresholds: One float or (C,) per-class thresholds.

    Returns:
        dict: ``tp``, ``fp``, ``tn``, ``fn``, each (C,) int64.
    """
    scores, targets = _as_2d(scores, targets)
    thr = _as_thresholds(thresholds, scores.shape[1])
    pred = scores >= thr[None, :]
    pos, neg = targets == 1, targets == 0
    return dict(tp=(pred & pos).sum(0), fp=(pred & neg).sum(0),
                tn=(~pred & neg).sum(0), fn=(~pred & pos).sum(0))


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def threshold_metrics(scores, targets,
                      thresholds=0.5) -> Dict[str, np.ndarray]:
    """Sensitivity, specificity, PPV, NPV and F1 of each class.

    ``sens`` = TP / (TP + FN), ``spec`` = TN / (TN + FP), ``ppv`` = TP /
    (TP + FP), ``npv`` = TN / (TN + FN), ``f1`` = 2 TP / (2 TP + FP + FN);
    NaN where the denominator is 0.

    Returns:
        dict: the five (C,) arrays and the counts of
        :func:`confusion_counts`.
    """
    c = confusion_counts(scores, targets, thresholds)
    tp, fp, tn, fn = c['tp'], c['fp'], c['tn'], c['fn']
    return dict(sens=_ratio(tp, tp + fn), spec=_ratio(tn, tn + fp),
                ppv=_ratio(tp, tp + fp), npv=_ratio(tn, tn + fn),
                f1=_ratio(2 * tp, 2 * tp + fp + fn), **c)


def bootstrap_indices(num_rows: int, num_resamples: int,
                      seed: int = 0) -> Iterator[np.ndarray]:
    """The rows of each resample: ``num_rows`` draws with replacement.

    Deterministic for a given seed (``numpy.random.default_rng``).
    """
    rng = np.random.default_rng(seed)
    for _ in range(num_resamples):
        yield rng.integers(0, num_rows, size=num_rows)


class _SortedColumns:
    """Scores sorted once per class (descending) for weighted AUC / AP.

    A masked cell (target -1) gets weight 0: it is in no resample.
    """

    def __init__(self, scores: np.ndarray, targets: np.ndarray):
        self.order = np.argsort(-scores, axis=0, kind='mergesort')
        s = np.take_along_axis(scores, self.order, axis=0)
        t = np.take_along_axis(targets, self.order, axis=0)
        self.known = known_cells(t).astype(np.float64)
        self.t = (t == 1).astype(np.float64)
        self.ends = _group_ends(-s)

    def auc_ap(self, weights: np.ndarray):
        """(C,) AUC and AP of the rows weighted by ``weights`` (N,)."""
        w = weights[self.order] * self.known
        tp = np.cumsum(w * self.t, axis=0)
        fp = np.cumsum(w * (1.0 - self.t), axis=0)
        pos, neg = tp[-1], fp[-1]
        # values at the previous tie-group end (0 before the first group)
        prev_tp = np.maximum.accumulate(np.where(self.ends, tp, 0.0), axis=0)
        prev_fp = np.maximum.accumulate(np.where(self.ends, fp, 0.0), axis=0)
        zero = np.zeros((1, tp.shape[1]))
        prev_tp = np.vstack([zero, prev_tp[:-1]])
        prev_fp = np.vstack([zero, prev_fp[:-1]])
        d_tp = np.where(self.ends, tp - prev_tp, 0.0)
        d_fp = np.where(self.ends, fp - prev_fp, 0.0)
        with np.errstate(divide='ignore', invalid='ignore'):
            area = (d_fp * (prev_tp + tp) / 2.0).sum(0)
            auc = area / (pos * neg)
            precision = np.where(d_tp > 0, tp / (tp + fp), 0.0)
            ap = (d_tp * precision).sum(0) / pos
        bad = (pos <= 0) | (neg <= 0)
        auc[bad] = np.nan
        ap[bad] = np.nan
        return auc, ap


def weighted_auc_ap(scores: np.ndarray, targets: np.ndarray,
                    counts: np.ndarray):
    """Per-class AUC and AP of many resamples given as row multiplicities.

    A resample with replacement is the data with row i counted
    ``counts[b, i]`` times; the rows are sorted once for all resamples.

    Args:
        scores (np.ndarray): (N, C) scores.
        targets (np.ndarray): (N, C) labels, 1, 0 or -1 (masked: left out
            of its class in every resample).
        counts (np.ndarray): (B, N) multiplicities.

    Returns:
        tuple: (B, C) AUC and (B, C) AP; NaN where a resample holds only
        positives or only negatives of the class.
    """
    scores, targets = _as_2d(scores, targets)
    cols = _SortedColumns(scores, targets)
    counts = np.asarray(counts, dtype=np.float64)
    auc = np.empty((counts.shape[0], scores.shape[1]))
    ap = np.empty_like(auc)
    for b, w in enumerate(counts):
        auc[b], ap[b] = cols.auc_ap(w)
    return auc, ap


def _group_means(values: np.ndarray, classes: Sequence[str],
                 groups: Dict[str, Sequence[str]]) -> Dict[str, np.ndarray]:
    """(R, C) per-class values -> (R,) nan-means per group ('mean' = all)."""
    out = {}
    sel = head_tail_groups(classes, groups.get('head'), groups.get('tail'))
    for g, idx in sel.items():
        v = values[:, idx]
        n = (~np.isnan(v)).sum(1)
        with np.errstate(invalid='ignore'):
            out[g] = np.where(n > 0, np.nansum(v, 1) / np.maximum(n, 1),
                              np.nan)
    return out


def _percentile_interval(samples: np.ndarray, level: float):
    """(lo, hi) percentile interval over axis 0, ignoring NaN rows."""
    alpha = (1.0 - level) / 2.0
    lo = np.full(samples.shape[1:], np.nan)
    hi = np.full(samples.shape[1:], np.nan)
    valid = (~np.isnan(samples)).any(0)
    if valid.any():
        q = np.nanpercentile(samples[:, valid], [100 * alpha,
                                                 100 * (1 - alpha)], axis=0)
        lo[valid], hi[valid] = q[0], q[1]
    return lo, hi


def bootstrap_auc_ap(scores, targets, num_resamples: int = 1000,
                     seed: int = 0, level: float = 0.95,
                     classes: Optional[Sequence[str]] = None,
                     groups: Optional[Dict[str, Sequence[str]]] = None
                     ) -> Dict[str, Dict[str, np.ndarray]]:
    """Percentile bootstrap intervals of per-class and mean AUC / AP.

    Args:
        scores: (N, C) scores.
        targets: (N, C) labels, 1, 0 or -1 (masked: a drawn row counts
            for the classes whose label it knows).
        num_resamples (int): Resamples of the N rows (with replacement).
        seed (int): Seed of :func:`bootstrap_indices`.
        level (float): Coverage of the interval, in (0, 1).
        classes (Sequence[str], optional): Class names (for ``groups``).
        groups (dict, optional): ``{'head': [names], 'tail': [names]}``:
            intervals of those group means too.

    Returns:
        dict: ``{'auc': {...}, 'ap': {...}}``, each with ``class_lo`` /
        ``class_hi`` (C,) and ``<group>_lo`` / ``<group>_hi`` floats for
        ``mean`` and each group. In a resample where a class has only one
        label value it is missing (NaN) and left out of that resample's
        means, as in the point estimates; the interval of a class uses the
        resamples where it is defined, ``valid`` (C,) counts them.
    """
    scores, targets = _as_2d(scores, targets)
    if not 0.0 < level < 1.0:
        raise ValueError(f'level must be in (0, 1), got {level}')
    if num_resamples < 1:
        raise ValueError(f'num_resamples must be >= 1, got {num_resamples}')
    N, C = scores.shape
    classes = list(classes) if classes is not None else [
        str(i) for i in range(C)]
    cols = _SortedColumns(scores, targets)
    aucs = np.empty((num_resamples, C))
    aps = np.empty((num_resamples, C))
    for r, idx in enumerate(bootstrap_indices(N, num_resamples, seed)):
        w = np.bincount(idx, minlength=N).astype(np.float64)
        aucs[r], aps[r] = cols.auc_ap(w)
    out = {}
    for key, values in (('auc', aucs), ('ap', aps)):
        lo, hi = _percentile_interval(values, level)
        res = dict(class_lo=lo, class_hi=hi,
                   valid=(~np.isnan(values)).sum(0))
        for g, means in _group_means(values, classes, groups or {}).items():
            g_lo, g_hi = _percentile_interval(means[:, None], level)
            res[f'{g}_lo'], res[f'{g}_hi'] = float(g_lo[0]), float(g_hi[0])
        out[key] = res
    return out


def _known_column(scores, targets, column: int):
    """(M, 1) scores and targets of the M rows where ``column`` is known."""
    scores, targets = _as_2d(scores, targets)
    rows = targets[:, column] >= 0
    return scores[rows][:, [column]], targets[rows][:, [column]]


def roc_curve_points(scores, targets, column: int):
    """ROC curve of one class: (fpr, tpr), from (0, 0) to (1, 1).

    One point per distinct score (cut ``score >= s``), as scikit-learn's
    ``roc_curve(drop_intermediate=False)``, on the rows whose label of the
    class is known.
    """
    scores, targets = _known_column(scores, targets, column)
    cols = _SortedColumns(scores, targets)
    t = cols.t[:, 0]
    ends = cols.ends[:, 0]
    tp = np.cumsum(t)[ends]
    fp = np.cumsum(1.0 - t)[ends]
    with np.errstate(divide='ignore', invalid='ignore'):
        tpr = np.concatenate([[0.0], tp / t.sum()])
        fpr = np.concatenate([[0.0], fp / (t.size - t.sum())])
    return fpr, tpr


def pr_curve_points(scores, targets, column: int):
    """Precision-recall curve of one class: (recall, precision).

    One point per distinct score in decreasing-score order (recall rising),
    as scikit-learn's ``precision_recall_curve`` reversed, without its
    final (recall 0, precision 1) point. Rows whose label of the class is
    masked are left out.
    """
    scores, targets = _known_column(scores, targets, column)
    cols = _SortedColumns(scores, targets)
    t = cols.t[:, 0]
    ends = cols.ends[:, 0]
    tp = np.cumsum(t)[ends]
    seen = np.arange(1, t.size + 1, dtype=np.float64)[ends]
    with np.errstate(divide='ignore', invalid='ignore'):
        return tp / t.sum(), tp / seen


def co_confusion(scores, targets, thresholds=0.5) -> np.ndarray:
    """What goes wrong on the images of each class: (C + 1, C) counts.

    Row ``i < C``: the images that have class ``i``. Entry ``(i, i)``: those
    where class ``i`` is missed (false negatives of ``i``); entry ``(i, j)``,
    ``j != i``: those where class ``j`` is called although absent (false
    positives of ``j`` on images of class ``i``). Row ``C``: images without
    any label, and the false positives of each class on them.

    Masked cells (-1) count nowhere: an image is in row ``i`` only if its
    label of ``i`` is a known 1, in row ``C`` only if every label is a
    known 0, and a call of ``j`` is false only where ``j`` is a known 0.
    """
    scores, targets = _as_2d(scores, targets)
    thr = _as_thresholds(thresholds, scores.shape[1])
    pred = (scores >= thr[None, :]).astype(np.int64)
    t = (targets == 1).astype(np.int64)
    false_pos = pred * (targets == 0)  # (N, C)
    mat = t.T @ false_pos  # (C, C): images with i, false call of j
    np.fill_diagonal(mat, (t * (1 - pred)).sum(0))
    none = (targets == 0).all(1).astype(np.int64)
    return np.vstack([mat, none @ false_pos])
