"""Deployment: a model of probabilities exported to ONNX / TorchScript.

See ``docs/deployment.md`` and ``tools/deployment/export.py``.
"""
from .export import (EXPORTERS, export_model, pipeline_input_size,
                     preprocessing_info)
from .probability_model import ProbabilityModel

__all__ = [
    'ProbabilityModel', 'EXPORTERS',
    'export_model', 'pipeline_input_size', 'preprocessing_info'
]
