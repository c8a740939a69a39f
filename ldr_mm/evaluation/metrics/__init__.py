from .accuracy import MultiLabelAccuracy, MultiLabelBalancedAccuracy
from .calibration import MultiLabelCalibration
from .clinical import MultiLabelClinicalReport
from .base import MultiLabelScoreMetric, aggregate_scores, group_summary
from .dump import MultiLabelScoreDump
from .odir import ODIRMetric, odir_score
from .ranking import MultiLabelAP, MultiLabelAUC

__all__ = [
    'MultiLabelScoreMetric', 'group_summary', 'aggregate_scores',
    'MultiLabelAP', 'MultiLabelAUC', 'MultiLabelAccuracy',
    'MultiLabelBalancedAccuracy', 'ODIRMetric', 'odir_score',
    'MultiLabelScoreDump', 'MultiLabelClinicalReport', 'MultiLabelCalibration'
]
