from .attention_head_stage2 import AttentionHeadStage2Classifier
from .csra_stage2_classifier import (CSRAStage2Classifier,
                                     csra_to_stage2_state)
from .ldr_classifier import LDRClassifier
from .ldr_stage2_classifier import (LDRStage2Classifier, Stage1CheckpointError,
                                    load_stage1_checkpoint,
                                    require_stage1_file)
from .query2label_stage2_classifier import (Query2LabelStage2Classifier,
                                            q2l_to_stage2_state)

__all__ = [
    'AttentionHeadStage2Classifier', 'CSRAStage2Classifier',
    'csra_to_stage2_state', 'LDRClassifier', 'LDRStage2Classifier',
    'Query2LabelStage2Classifier', 'q2l_to_stage2_state',
    'Stage1CheckpointError', 'load_stage1_checkpoint', 'require_stage1_file'
]
