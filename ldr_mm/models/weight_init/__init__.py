"""Pretrained weights from local files in torchvision / timm / MMPretrain /
safetensors layouts, and a one-line error when a download fails
(docs/weights.md)."""
from .layouts import LAYOUTS, layouts_for
from .pretrained import Pretrained, select_layout
from .weights_file import (PretrainedWeightsError, WeightsDownloadError,
                           read_weights, unwrap_state_dict)

__all__ = [
    'LAYOUTS', 'layouts_for', 'Pretrained', 'select_layout',
    'PretrainedWeightsError', 'WeightsDownloadError', 'read_weights',
    'unwrap_state_dict'
]
