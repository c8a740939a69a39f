"""Former home of the M-step; it lives in :mod:`ldr_mm.reconstruction.
m_step` (one module per registered solver). These names stay importable
from here."""
from .m_step import (broadcast_head, lbfgs_m_step, lda_classifier,
                     lda_m_step, score_std, sgd_m_step)

__all__ = ['broadcast_head', 'lbfgs_m_step', 'lda_classifier', 'lda_m_step',
           'score_std', 'sgd_m_step']
