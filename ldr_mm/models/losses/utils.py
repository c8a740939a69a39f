"""Argument checks shared by the multi-label baseline losses."""
from typing import Optional

import torch

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str, name: str) -> str:
    """Return ``reduction`` if it is one of 'none', 'mean', 'sum'."""
    if reduction not in REDUCTIONS:
        raise ValueError(f'{name}: reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    return reduction


def check_multilabel_inputs(cls_score: torch.Tensor, label: torch.Tensor,
                            name: str) -> torch.Tensor:
    """Check (N, C) logits against (N, C) multi-hot targets.

    Returns:
        Tensor: ``label`` as the logits' floating dtype.

    Raises:
        ValueError: The shapes differ (e.g. class indices were passed: the
            data preprocessor needs ``to_onehot=True``).
    """
    if cls_score.dim() != 2:
        raise ValueError(f'{name} expects (N, C) logits, got shape '
                         f'{tuple(cls_score.shape)}')
    if label.shape != cls_score.shape:
        raise ValueError(
            f'{name} needs multi-hot labels of the logits\' shape '
            f'{tuple(cls_score.shape)}, got {tuple(label.shape)} (set '
            'to_onehot=True in the data preprocessor).')
    dtype = cls_score.dtype if cls_score.is_floating_point() else \
        torch.float32
    return label.to(dtype)


def expand_weight(weight: Optional[torch.Tensor],
                  like: torch.Tensor) -> Optional[torch.Tensor]:
    """A per-sample (N,) or element-wise (N, C) weight, broadcastable."""
    if weight is None:
        return None
    weight = weight.to(like.dtype)
    if weight.dim() == 1:
        weight = weight.reshape(-1, 1)
    return weight
