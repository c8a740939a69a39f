"""The M-step of stage 2: registered solvers of the classifier.

One module per solver, each a :class:`BaseMStepSolver` registered in
``TASK_UTILS`` under its class name and the short name configs use
(``train_cfg.m_solver``): :class:`SGDMStep` (``'sgd'``), :class:`LBFGSMStep`
(``'lbfgs'``), :class:`LDAMStep` (``'lda'``). Their functions
(:func:`sgd_m_step`, :func:`lbfgs_m_step`, :func:`lda_m_step`,
:func:`lda_classifier`) work without a runner.
"""
from .base import (BaseMStepSolver, broadcast_head, build_m_solver,
                   m_solver_config, m_solver_names)
from .lbfgs import LBFGSMStep, lbfgs_m_step
from .lda import LDA_OPTIONS, LDAMStep, lda_classifier, lda_m_step, score_std
from .sgd import SGDMStep, sgd_m_step

__all__ = [
    'BaseMStepSolver', 'broadcast_head', 'build_m_solver', 'm_solver_config',
    'm_solver_names', 'LBFGSMStep', 'lbfgs_m_step', 'LDA_OPTIONS', 'LDAMStep',
    'lda_classifier', 'lda_m_step', 'score_std', 'SGDMStep', 'sgd_m_step'
]
