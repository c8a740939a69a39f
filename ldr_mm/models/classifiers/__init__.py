from .csra_stage2_classifier import (CSRAStage2Classifier,
                                     csra_to_stage2_state)
from .ldr_classifier import LDRClassifier
from .ldr_stage2_classifier import (LDRStage2Classifier, Stage1CheckpointError,
                                    load_stage1_checkpoint)

__all__ = [
    'CSRAStage2Classifier', 'csra_to_stage2_state', 'LDRClassifier',
    'LDRStage2Classifier', 'Stage1CheckpointError', 'load_stage1_checkpoint'
]
