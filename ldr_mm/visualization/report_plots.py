"""The test report's pictures, drawn from the scores the evaluator collects."""
import os.path as osp
from typing import Dict, Sequence, Union

from mmengine.logging import MMLogger

from mmpretrain.registry import METRICS

from ldr_mm.evaluation.metrics.base import MultiLabelScoreMetric
from ldr_mm.evaluation.thresholds import resolve_thresholds
from .curve_plots import plot_pr_curves, plot_roc_curves
from .reliability_plot import plot_reliability


@METRICS.register_module()
class MultiLabelReportPlots(MultiLabelScoreMetric):
    """Write ``roc_curves.png``, ``pr_curves.png`` and ``reliability.png``
    (one panel per class) to ``out_dir``; reports no values.

    ``tools/test.py --curves-dir`` adds it to the test evaluator beside
    :class:`~ldr_mm.evaluation.MultiLabelClinicalReport` and
    :class:`~ldr_mm.evaluation.MultiLabelCalibration`, with the same
    thresholds, bins, groups and aggregation, so the pictures show what those
    tables report (the metrics compute, this draws: evaluation does not
    import the plotting). Masked label cells (target -1) are left out of
    their class.

    Args:
        out_dir (str): Folder of the three PNGs.
        thresholds: The operating points marked on the curves, as
            :class:`~ldr_mm.evaluation.MultiLabelClinicalReport` takes them.
            Defaults to 0.5.
        num_bins (int): Equal-mass bins of the reliability diagrams.
            Defaults to 15.
        **kwargs: See :class:`MultiLabelScoreMetric`.
    """
    default_prefix = 'plots'

    def __init__(self,
                 out_dir: str,
                 thresholds: Union[float, str, Sequence[float],
                                   Dict[str, float]] = 0.5,
                 num_bins: int = 15,
                 **kwargs):
        super().__init__(**kwargs)
        if num_bins < 1:
            raise ValueError(f'num_bins must be >= 1, got {num_bins}')
        self.out_dir = out_dir
        self.thresholds = thresholds
        self.num_bins = int(num_bins)

    def compute_metrics(self, results) -> Dict[str, float]:
        scores, targets = self.stack(results)
        classes, head, tail = self.groups
        classes = list(classes or [str(i) for i in range(scores.shape[1])])
        head, tail = head or [], tail or []
        thr = resolve_thresholds(self.thresholds, classes)
        args = (scores, targets, classes, head, tail)
        written = [
            plot_roc_curves(*args, thr,
                            osp.join(self.out_dir, 'roc_curves.png')),
            plot_pr_curves(*args, thr, osp.join(self.out_dir,
                                                'pr_curves.png')),
            plot_reliability(*args, self.num_bins,
                             osp.join(self.out_dir, 'reliability.png')),
        ]
        MMLogger.get_current_instance().info(
            'ROC / PR curves and reliability diagrams written to ' +
            ', '.join(osp.abspath(p) for p in written))
        return {}
