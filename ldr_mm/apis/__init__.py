"""What users do after training: inference, the model zoo, explanations.

The decision files (thresholds, calibration) and score files these read are
:mod:`ldr_mm.evaluation`'s; the pictures are drawn by
:mod:`ldr_mm.visualization`.

``MultiLabelInferencer`` is registered in MMEngine's ``INFERENCERS`` registry
(MMPretrain keeps no inferencer registry of its own; its inferencers are
classes exported from ``mmpretrain.apis``, as ours are from here).
"""
from .cam import class_activation_maps, supports_cam
from .inputs import (IMAGE_EXTENSIONS, UnreadableImageError, collect_inputs,
                     read_list_file)
from ldr_mm.utils import CheckpointMismatchError, config_classes

from .model_hub import get_model, inference_model, register_ldr_models
from .model_loading import init_multilabel_model, model_classes
from .multilabel_inferencer import (MultiLabelInferencer,
                                    inference_multilabel_model)

__all__ = [
    'MultiLabelInferencer', 'inference_multilabel_model',
    'init_multilabel_model', 'CheckpointMismatchError', 'config_classes',
    'model_classes', 'IMAGE_EXTENSIONS', 'UnreadableImageError',
    'collect_inputs', 'read_list_file', 'class_activation_maps',
    'supports_cam', 'get_model', 'inference_model', 'register_ldr_models'
]

# LDR model names in MMPretrain's model index (mmpretrain.list_models),
# through its public ModelHub.register_model_index
register_ldr_models()
