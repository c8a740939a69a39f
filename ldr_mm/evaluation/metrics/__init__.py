from .base import MultiLabelScoreMetric, group_summary
from .dump import MultiLabelScoreDump
from .ranking import MultiLabelAP, MultiLabelAUC

__all__ = [
    'MultiLabelScoreMetric', 'group_summary', 'MultiLabelAP', 'MultiLabelAUC',
    'MultiLabelScoreDump'
]
