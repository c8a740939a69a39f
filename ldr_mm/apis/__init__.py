"""What users do after training: inference, thresholds, explanations.

``MultiLabelInferencer`` is registered in MMEngine's ``INFERENCERS`` registry
(MMPretrain keeps no inferencer registry of its own; its inferencers are
classes exported from ``mmpretrain.apis``, as ours are from here).
"""
from .attention import attention_panels, overlay_attention, upsample_map
from .cam import class_activation_maps, supports_cam
from .inputs import (IMAGE_EXTENSIONS, UnreadableImageError, collect_inputs,
                     read_list_file)
from ldr_mm.utils import CheckpointMismatchError, config_classes

from .model_hub import get_model, inference_model, register_ldr_models
from .model_loading import init_multilabel_model, model_classes
from .multilabel_inferencer import (MultiLabelInferencer,
                                    inference_multilabel_model)
from .score_file import ScoreFile, ScoreFileError, read_score_file
from .thresholds import (Decisions, ThresholdFileError, choose_thresholds,
                         decide_samples, fixed_decisions, load_decision_file,
                         load_thresholds, resolve_thresholds, save_thresholds)

__all__ = [
    'MultiLabelInferencer', 'inference_multilabel_model',
    'init_multilabel_model', 'CheckpointMismatchError', 'config_classes',
    'model_classes', 'IMAGE_EXTENSIONS', 'UnreadableImageError',
    'collect_inputs', 'read_list_file', 'attention_panels',
    'overlay_attention', 'upsample_map', 'class_activation_maps',
    'supports_cam', 'ScoreFile', 'ScoreFileError',
    'read_score_file', 'ThresholdFileError', 'choose_thresholds',
    'load_thresholds', 'resolve_thresholds', 'save_thresholds',
    'Decisions', 'load_decision_file', 'decide_samples', 'fixed_decisions',
    'get_model', 'inference_model', 'register_ldr_models'
]

# LDR model names in MMPretrain's model index (mmpretrain.list_models),
# through its public ModelHub.register_model_index
register_ldr_models()
