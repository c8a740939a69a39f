"""Per-class ranking metrics, vectorised over classes, tie-aware.

Why not MMPretrain's ``AveragePrecision``: it ranks tied scores in
``argsort`` order (so the result depends on sample order when scores tie, as
they do for a saturated or quantised model) and gives AP = 0 to a class with
no positives, which drags the mean down. These functions treat ties like
scikit-learn (one threshold per distinct score) and return NaN for a class
that has only one label value in the evaluated set.
"""
from typing import Tuple

import numpy as np

from .metrics.label_mask import known_cells, masked_per_class


def _as_2d(scores, targets) -> Tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if scores.ndim == 1:
        scores, targets = scores[:, None], targets[:, None]
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f'scores {scores.shape} and targets {targets.shape} '
                         'must both be (N, C)')
    if not np.isfinite(scores).all():
        bad = np.argwhere(~np.isfinite(scores))[0]
        raise ValueError(f'Non-finite score at sample {bad[0]}, class '
                         f'{bad[1]}')
    known_cells(targets)  # 1, 0 or -1 (masked)
    return scores, targets.astype(np.float64)


def has_masked(targets) -> bool:
    """Whether any cell of ``targets`` is masked (-1)."""
    return bool((np.asarray(targets) < 0).any())


def missing_classes(targets) -> np.ndarray:
    """Bool (C,): classes without a known positive or a known negative."""
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = targets[:, None]
    return ((targets == 1).sum(0) == 0) | ((targets == 0).sum(0) == 0)


def _group_ends(sorted_scores: np.ndarray) -> np.ndarray:
    """Bool mask of the last position of each run of equal sorted scores."""
    ends = np.ones_like(sorted_scores, dtype=bool)
    ends[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    return ends


def roc_auc_per_class(scores, targets) -> np.ndarray:
    """ROC AUC of each class (Mann-Whitney U with average ranks for ties).

    Args:
        scores: (N, C) scores (any monotone scale).
        targets: (N, C) labels: 1, 0 or -1 (masked, left out).

    Returns:
        np.ndarray: (C,) AUC; NaN for a class whose targets are all 0 or all 1.
    """
    scores, targets = _as_2d(scores, targets)
    if has_masked(targets):
        return masked_per_class(roc_auc_per_class, scores, targets)
    n = scores.shape[0]
    order = np.argsort(scores, axis=0, kind='mergesort')
    s = np.take_along_axis(scores, order, axis=0)
    t = np.take_along_axis(targets, order, axis=0)
    idx = np.arange(n, dtype=np.float64)[:, None].repeat(s.shape[1], 1)
    ends = _group_ends(s)
    starts = np.ones_like(ends)
    starts[1:] = ends[:-1]
    # first index of each tie group, carried forward
    first = np.maximum.accumulate(np.where(starts, idx, 0), axis=0)
    # last index of each tie group, carried backward
    last = np.where(ends, idx, n - 1)
    last = np.minimum.accumulate(last[::-1], axis=0)[::-1]
    ranks = (first + last) / 2.0 + 1.0
    pos = t.sum(0)
    neg = n - pos
    with np.errstate(divide='ignore', invalid='ignore'):
        auc = ((ranks * t).sum(0) - pos * (pos + 1) / 2.0) / (pos * neg)
    auc[missing_classes(targets)] = np.nan
    return auc


def average_precision_per_class(scores, targets) -> np.ndarray:
    """Average precision of each class, sum over thresholds of dR * P.

    One threshold per distinct score, as ``sklearn.metrics.
    average_precision_score``.

    Returns:
        np.ndarray: (C,) AP; NaN for a class whose targets are all 0 or all
        1 (AP of a class without positives is undefined, not 0).
    """
    scores, targets = _as_2d(scores, targets)
    if has_masked(targets):
        return masked_per_class(average_precision_per_class, scores, targets)
    order = np.argsort(-scores, axis=0, kind='mergesort')
    s = np.take_along_axis(scores, order, axis=0)
    t = np.take_along_axis(targets, order, axis=0)
    tps = np.cumsum(t, axis=0)
    seen = np.arange(1, s.shape[0] + 1, dtype=np.float64)[:, None]
    precision = tps / seen
    ends = _group_ends(-s)
    tps_at_ends = np.where(ends, tps, 0.0)
    prev = np.maximum.accumulate(tps_at_ends, axis=0)
    prev = np.vstack([np.zeros((1, s.shape[1])), prev[:-1]])
    d_tp = np.where(ends, tps - prev, 0.0)
    pos = t.sum(0)
    with np.errstate(divide='ignore', invalid='ignore'):
        ap = (d_tp * precision).sum(0) / pos
    ap[missing_classes(targets)] = np.nan
    return ap
