"""LDRNet stage 2: Gaussian label-distribution reconstruction (Sec. 3.4)."""
from .calibration import calibrate_statistics, check_calibration
from .estimation import (build_statistics_dataloader, build_statistics_source,
                         class_features, estimate_class_statistics,
                         statistics_dataset, statistics_loader_options)
from .m_step import (BaseMStepSolver, LBFGSMStep, LDAMStep, SGDMStep,
                     build_m_solver, lbfgs_m_step, lda_classifier,
                     lda_m_step, m_solver_names, sgd_m_step)
from .sampler import ReverseSampler, gaussian_factor, sampling_probability
from .statistics import GaussianAccumulator, GaussianStatistics

__all__ = [
    'GaussianAccumulator', 'GaussianStatistics', 'ReverseSampler',
    'gaussian_factor', 'sampling_probability', 'build_statistics_dataloader',
    'class_features', 'estimate_class_statistics', 'statistics_dataset',
    'build_statistics_source', 'statistics_loader_options', 'BaseMStepSolver',
    'LBFGSMStep', 'LDAMStep', 'SGDMStep', 'build_m_solver', 'm_solver_names',
    'lbfgs_m_step', 'lda_classifier', 'lda_m_step', 'sgd_m_step',
    'calibrate_statistics', 'check_calibration'
]
