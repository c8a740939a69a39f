"""Seed statistics and paired-bootstrap intervals over test images.

A difference between two configs on one test set has two sources of noise:
the training seed (the mean +- sd over seeds shows it) and the finite test
set. :func:`paired_bootstrap` measures the second: it resamples the test
images with replacement, recomputes the metrics of both configs on the *same*
resamples from their per-image scores, and reports percentile intervals of
the difference of the seed means.
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ldr_mm.evaluation.clinical import weighted_auc_ap
from ldr_mm.evaluation.groups import head_tail_groups


def mean_sd(values: Sequence[Optional[float]]) -> Tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1) and count of the values.

    ``None`` and NaN are left out; the sd of one value is NaN.
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return math.nan, math.nan, 0
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return mean, math.nan, 1
    var = sum((v - mean)**2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var), len(vals)


def bootstrap_indices(num_images: int, num_resamples: int,
                      seed: int = 0) -> np.ndarray:
    """(B, N) image indices, each row N draws with replacement."""
    if num_images < 1 or num_resamples < 1:
        raise ValueError(f'bootstrap needs >= 1 image and resample, got '
                         f'{num_images} and {num_resamples}')
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_images, size=(num_resamples, num_images))


def group_metrics(values: np.ndarray, prefix: str, classes: Sequence[str],
                  head: Sequence[str], tail: Sequence[str]) -> Dict:
    """``{prefix/mean|head|tail: (B,)}`` of (B, C) per-class values.

    The means of :func:`~ldr_mm.evaluation.metrics.base.group_summary`, one
    per row: NaN classes (missing from a resample) are left out, a group
    with no class left is NaN.
    """
    groups = head_tail_groups(classes, head, tail)
    out = {}
    for group, cols in groups.items():
        v = values[:, cols]
        ok = ~np.isnan(v)
        count = ok.sum(1)
        with np.errstate(invalid='ignore', divide='ignore'):
            out[f'{prefix}/{group}'] = np.where(ok, v, 0).sum(1) / count
    return out


def resample_counts(indices: np.ndarray, num_images: int) -> np.ndarray:
    """(B, N) multiplicity of every image in every resample."""
    B = indices.shape[0]
    flat = (indices + num_images * np.arange(B)[:, None]).ravel()
    return np.bincount(flat, minlength=B * num_images).reshape(
        B, num_images).astype(np.float64)


def resampled_metrics(scores: np.ndarray, targets: np.ndarray,
                      indices: np.ndarray, classes: Sequence[str],
                      head: Sequence[str] = (),
                      tail: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """AUC and mAP (mean / head / tail) of every resample.

    Args:
        scores (np.ndarray): (N, C) per-image scores.
        targets (np.ndarray): (N, C) labels, 1, 0 or -1 (masked: left out
            of its class in every resample, see
            :func:`~ldr_mm.evaluation.clinical.weighted_auc_ap`).
        indices (np.ndarray): (B, N) resamples (:func:`bootstrap_indices`);
            a row of ``arange(N)`` gives the metrics of the test set itself.
        classes, head, tail: Class names and the head / tail groups.

    Returns:
        dict: ``'auc/mean'``, ``'mAP/tail'``, ... -> (B,) values; NaN where a
        resample has no class of the group with both label values.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    auc, ap = weighted_auc_ap(scores, targets,
                              resample_counts(indices, scores.shape[0]))
    out = group_metrics(auc, 'auc', classes, head, tail)
    out.update(group_metrics(ap, 'mAP', classes, head, tail))
    return out


def percentile_interval(samples: np.ndarray,
                        confidence: float) -> Tuple[float, float]:
    """Two-sided percentile interval of the finite samples (NaN if none)."""
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    s = np.asarray(samples, dtype=np.float64)
    s = s[np.isfinite(s)]
    if not s.size:
        return math.nan, math.nan
    a = (1 - confidence) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return float(lo), float(hi)


def paired_bootstrap(runs: Sequence[Dict[str, np.ndarray]],
                     reference: Sequence[Dict[str, np.ndarray]],
                     keys: Sequence[str], confidence: float) -> Dict:
    """Difference of seed means to a reference, with bootstrap intervals.

    Args:
        runs, reference: One dict per seed, metric key -> (1 + B,) values:
            first on the test set itself, then on the B resamples
            (:func:`resampled_metrics` with the same resamples for every run
            of both configs).
        keys: Metric keys to compare.
        confidence: Interval level, e.g. 0.95.

    Returns:
        dict: key -> ``dict(diff, low, high, p_better, resamples)``: the
        difference of the seed means on the test set, the percentile
        interval of the resampled differences, the share of resamples with a
        positive difference, and the number of resamples where both configs
        had the metric.
    """
    out = {}
    for k in keys:
        d = (np.mean([r[k] for r in runs], axis=0) -
             np.mean([r[k] for r in reference], axis=0))
        point, d = d[0], d[1:]
        lo, hi = percentile_interval(d, confidence)
        ok = np.isfinite(d)
        out[k] = dict(diff=float(point), low=lo, high=hi,
                      p_better=float((d[ok] > 0).mean()) if ok.any() else
                      math.nan, resamples=int(ok.sum()))
    return out
