"""Calibration report: per-class and mean ECE, classwise ECE, Brier."""
from typing import Dict

from mmpretrain.registry import METRICS

from ldr_mm.evaluation.calibration import (brier_per_class, ece_equal_mass,
                                           ece_equal_width)
from .base import MultiLabelScoreMetric, group_summary

#: Per-class measures of :class:`MultiLabelCalibration`: key -> function.
CALIBRATION_MEASURES = dict(ece=ece_equal_mass, cw_ece=ece_equal_width,
                            brier=None)


@METRICS.register_module()
class MultiLabelCalibration(MultiLabelScoreMetric):
    """How well the scores work as probabilities (definitions:
    :mod:`ldr_mm.evaluation.calibration`, ``docs/metrics.md``).

    ``tools/test.py`` adds it to the test evaluator; the scores it sees are
    calibrated when ``--thresholds`` names a decision file with a
    calibration. Masked label cells (target -1) are left out of their class.

    Keys (prefix ``calibration``), each with ``/class/<name>``, ``/mean``
    and, with groups, ``/head`` and ``/tail``: ``ece`` (equal-mass bins),
    ``cw_ece`` (equal-width bins; ``cw_ece/mean`` is the classwise ECE) and
    ``brier``; ``bins`` (B). Its reliability diagrams are drawn by
    :class:`ldr_mm.visualization.MultiLabelReportPlots`.

    Args:
        num_bins (int): B bins of both ECEs. Defaults to 15.
        **kwargs: See :class:`MultiLabelScoreMetric`.
    """
    default_prefix = 'calibration'

    def __init__(self, num_bins: int = 15, **kwargs):
        kwargs['per_class'] = True
        super().__init__(**kwargs)
        if num_bins < 1:
            raise ValueError(f'num_bins must be >= 1, got {num_bins}')
        self.num_bins = int(num_bins)

    def compute_metrics(self, results) -> Dict[str, float]:
        scores, targets = self.stack(results)
        classes, head, tail = self.groups
        classes = list(classes or [str(i) for i in range(scores.shape[1])])
        out = {'bins': self.num_bins}
        for key, fn in CALIBRATION_MEASURES.items():
            values = brier_per_class(scores, targets) if fn is None else \
                fn(scores, targets, self.num_bins)
            summary = group_summary(values, classes, head, tail,
                                    metric=f'calibration {key}',
                                    per_class=True)
            out.update({f'{key}/{k}': v for k, v in summary.items()})
        return out
