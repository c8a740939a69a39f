from .em_train_loop import EMTrainLoop

__all__ = ['EMTrainLoop']
