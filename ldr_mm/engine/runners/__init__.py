from .em_train_loop import EMTrainLoop
from .ldr_runner import LDRRunner

__all__ = ['EMTrainLoop', 'LDRRunner']
