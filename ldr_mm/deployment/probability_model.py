"""The exported computation: normalised images -> per-class probabilities."""
from typing import Optional, Sequence

import torch
from torch import nn


class ProbabilityModel(nn.Module):
    """``sigmoid(scale * logits + bias)`` of a classifier's pure forward.

    The classifier's ``mode='tensor'`` path (backbone, neck, head, no data
    preprocessor) gives the logits; a per-class affine map (temperature or
    Platt calibration; identity by default) and the sigmoid follow, so the
    graph returns probabilities.

    Args:
        model (nn.Module): An MMPretrain classifier (e.g.
            :class:`~ldr_mm.models.LDRClassifier`) in eval mode.
        scale (Sequence[float], optional): (C,) logit multipliers.
        bias (Sequence[float], optional): (C,) logit offsets.

    Shape:
        input: (B, 3, H, W) float32, normalised as the config's data
        preprocessor does (colour order, mean, std).
        output: (B, C) float32 probabilities.
    """

    def __init__(self, model: nn.Module,
                 scale: Optional[Sequence[float]] = None,
                 bias: Optional[Sequence[float]] = None):
        super().__init__()
        self.model = model
        num = model.head.num_classes
        scale = torch.ones(num) if scale is None else torch.as_tensor(
            scale, dtype=torch.float32)
        bias = torch.zeros(num) if bias is None else torch.as_tensor(
            bias, dtype=torch.float32)
        if scale.shape != (num, ) or bias.shape != (num, ):
            raise ValueError(f'scale {tuple(scale.shape)} and bias '
                             f'{tuple(bias.shape)} must be ({num},)')
        self.register_buffer('scale', scale.float())
        self.register_buffer('bias', bias.float())

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs, mode='tensor')
        return torch.sigmoid(logits * self.scale + self.bias)
