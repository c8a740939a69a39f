from .ldr_classifier import LDRClassifier
from .ldr_stage2_classifier import (LDRStage2Classifier, Stage1CheckpointError,
                                    load_stage1_checkpoint)

__all__ = [
    'LDRClassifier', 'LDRStage2Classifier', 'Stage1CheckpointError',
    'load_stage1_checkpoint'
]
