"""Deployment: a model of probabilities exported to ONNX / TorchScript.

See ``docs/deployment.md`` and ``tools/deployment/export.py``.
"""
from .decision_file import DecisionFile, read_decision_file
from .export import (EXPORTERS, export_model, pipeline_input_size,
                     preprocessing_info)
from .probability_model import ProbabilityModel

__all__ = [
    'DecisionFile', 'read_decision_file', 'ProbabilityModel', 'EXPORTERS',
    'export_model', 'pipeline_input_size', 'preprocessing_info'
]
