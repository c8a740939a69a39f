"""Clinical report: operating-point metrics, bootstrap intervals."""
import math
from typing import Dict, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger

from mmpretrain.registry import METRICS

from ldr_mm.evaluation.clinical import (OPERATING_POINT_KEYS,
                                        bootstrap_auc_ap, threshold_metrics)
from ldr_mm.evaluation.groups import head_tail_groups
from ldr_mm.evaluation.thresholds import resolve_thresholds
from .base import MultiLabelScoreMetric
from .label_mask import masked_count


def _nan_group_means(values: np.ndarray, classes, head, tail) -> dict:
    out = {}
    for g, cols in head_tail_groups(classes, head, tail).items():
        v = values[cols]
        v = v[~np.isnan(v)]
        out[g] = float(v.mean()) if v.size else math.nan
    return out


@METRICS.register_module()
class MultiLabelClinicalReport(MultiLabelScoreMetric):
    """Sensitivity, specificity, PPV, NPV and F1 at per-class thresholds,
    bootstrap confidence intervals of AUC / AP.

    ``tools/test.py`` adds it to the test evaluator (``--thresholds``,
    ``--bootstrap``); its ROC / PR curves (``--curves-dir``) are drawn by
    :class:`ldr_mm.visualization.MultiLabelReportPlots`. Computation:
    :mod:`ldr_mm.evaluation.clinical`. Undefined values (the PPV of a class
    without positive calls, the sensitivity of a class without positives)
    are NaN and left out of the means, with a warning naming the classes.

    Keys (prefix ``clinical``): ``<k>/class/<name>``, ``<k>/mean``,
    ``<k>/head``, ``<k>/tail`` for ``k`` in sens, spec, ppv, npv, f1;
    ``thr/class/<name>``; ``masked/total`` and ``masked/class/<name>``, the
    label cells masked by ``gt_mask`` (U-Ignore), which every value here
    leaves out of its class; with ``bootstrap > 0`` also ``auc_lo``,
    ``auc_hi``, ``ap_lo``, ``ap_hi`` for every class and for the mean /
    head / tail means, and ``bootstrap/resamples``, ``bootstrap/level``.

    Args:
        thresholds: One float, C floats, a ``{class: thr}`` dict (omitted
            classes keep 0.5) or a thresholds file of
            ``tools/misc/choose_thresholds.py``. Defaults to 0.5. The
            scores received are compared as they are: with a decision file
            that calibrates, they must be calibrated already
            (``tools/test.py`` applies
            :func:`ldr_mm.evaluation.decide_samples` to the model's test
            step).
        bootstrap (int): Resamples for the intervals; 0 switches them off.
            Defaults to 1000.
        seed (int): Bootstrap seed. Defaults to 0.
        level (float): Interval coverage. Defaults to 0.95.
        **kwargs: See :class:`MultiLabelScoreMetric` (``aggregate_by``,
            ``head_classes`` ...).
    """
    default_prefix = 'clinical'

    def __init__(self,
                 thresholds: Union[float, str, Sequence[float],
                                   Dict[str, float]] = 0.5,
                 bootstrap: int = 1000,
                 seed: int = 0,
                 level: float = 0.95,
                 **kwargs):
        super().__init__(**kwargs)
        if bootstrap < 0:
            raise ValueError(f'bootstrap must be >= 0, got {bootstrap}')
        if not 0.0 < level < 1.0:
            raise ValueError(f'level must be in (0, 1), got {level}')
        self.thresholds = thresholds
        self.bootstrap = int(bootstrap)
        self.seed = int(seed)
        self.level = float(level)

    def _warn_undefined(self, values: Dict[str, np.ndarray], classes):
        why = dict(sens='no positives', spec='no negatives',
                   ppv='no positive calls', npv='no negative calls',
                   f1='no positives and no positive calls')
        for k in OPERATING_POINT_KEYS:
            bad = [classes[i] for i in np.flatnonzero(np.isnan(values[k]))]
            if bad:
                MMLogger.get_current_instance().warning(
                    f'{k.upper()} is undefined for {bad} ({why[k]} at their '
                    'thresholds): reported as n/a, left out of the means.')

    def compute_metrics(self, results) -> Dict[str, float]:
        scores, targets = self.stack(results)
        classes, head, tail = self.groups
        classes = list(classes or [str(i) for i in range(scores.shape[1])])
        thr = resolve_thresholds(self.thresholds, classes)
        values = threshold_metrics(scores, targets, thr)
        self._warn_undefined(values, classes)
        out = {f'thr/class/{c}': float(t) for c, t in zip(classes, thr)}
        masked = masked_count(targets)
        out['masked/total'] = int(masked.sum())
        out.update({f'masked/class/{c}': int(n)
                    for c, n in zip(classes, masked)})
        for k in OPERATING_POINT_KEYS:
            out.update({f'{k}/{g}': v for g, v in _nan_group_means(
                values[k], classes, head, tail).items()})
            out.update({f'{k}/class/{c}': float(v)
                        for c, v in zip(classes, values[k])})
        if self.bootstrap:
            out.update(self._intervals(scores, targets, classes, head, tail))
        return out

    def _intervals(self, scores, targets, classes, head, tail) -> dict:
        ci = bootstrap_auc_ap(scores, targets, self.bootstrap, self.seed,
                              self.level, classes,
                              dict(head=head or [], tail=tail or []))
        out = {'bootstrap/resamples': self.bootstrap,
               'bootstrap/level': self.level}
        for key, res in ci.items():
            for g in ('mean', 'head', 'tail'):
                if f'{g}_lo' in res:
                    out[f'{key}_lo/{g}'] = res[f'{g}_lo']
                    out[f'{key}_hi/{g}'] = res[f'{g}_hi']
            for c, lo, hi in zip(classes, res['class_lo'], res['class_hi']):
                out[f'{key}_lo/class/{c}'] = float(lo)
                out[f'{key}_hi/class/{c}'] = float(hi)
        return out
