"""The exported computation: normalised images -> per-class probabilities."""
from typing import List, Optional

import torch
from torch import nn

from ldr_mm.evaluation.calibration import CalibrationLayer


class ProbabilityModel(nn.Module):
    """Calibrated per-class probabilities of a classifier's pure forward.

    The classifier's ``mode='tensor'`` path (backbone, neck, head, no data
    preprocessor) gives the logits; the decision file's per-class
    calibration (:class:`~ldr_mm.evaluation.calibration.CalibrationLayer`:
    temperature, Platt or isotonic; the plain sigmoid without one) turns
    them into probabilities inside the graph.

    Args:
        model (nn.Module): An MMPretrain classifier (e.g.
            :class:`~ldr_mm.models.LDRClassifier`) in eval mode.
        calibration (list[dict], optional): The C per-class maps of a
            decision file (:func:`~ldr_mm.evaluation.load_decision_file`), or
            None for ``sigmoid(logits)``.

    Shape:
        input: (B, 3, H, W) float32, normalised as the config's data
        preprocessor does (colour order, mean, std).
        output: (B, C) float32 probabilities.
    """

    def __init__(self, model: nn.Module,
                 calibration: Optional[List[dict]] = None):
        super().__init__()
        self.model = model
        self.calibrate = CalibrationLayer(
            calibration, num_classes=model.head.num_classes)
        if self.calibrate.a.shape[0] != model.head.num_classes:
            raise ValueError(
                f'{self.calibrate.a.shape[0]} calibration maps for a model '
                f'of {model.head.num_classes} classes')

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.calibrate(self.model(inputs, mode='tensor'))
