"""Pictures: label-query attention over images, the test report's curves
and reliability diagrams, the analysis tools' plots.

Drawn headless (matplotlib's Agg canvas, OpenCV), from what
:mod:`ldr_mm.evaluation` computes; this package may import ``evaluation``,
never ``apis`` (``tests/test_import_layers.py``). Importing it registers
:class:`MultiLabelReportPlots` in MMPretrain's ``METRICS``.
"""
from .attention import attention_panels, overlay_attention, upsample_map
from .confusion_plot import plot_co_confusion
from .curve_plots import plot_pr_curves, plot_roc_curves
from .reliability_plot import plot_reliability
from .report_plots import MultiLabelReportPlots
from .sample_plot import plot_sample

__all__ = [
    'attention_panels', 'overlay_attention', 'upsample_map',
    'plot_co_confusion', 'plot_pr_curves', 'plot_roc_curves',
    'plot_reliability', 'MultiLabelReportPlots', 'plot_sample'
]
