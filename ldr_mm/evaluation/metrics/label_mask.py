"""U-Ignore masks in the per-class metrics: masked entries are left out.

Inside the metrics a masked label is stored as target ``-1`` (so patient
aggregation keeps checking that a patient's rows agree) and every
per-class value is computed on the rows whose label for that class is
known: a masked entry is left out of AUC, AP and the accuracies.
"""
from typing import Callable

import numpy as np
import torch


def apply_gt_mask(target: np.ndarray, sample: dict) -> np.ndarray:
    """(C,) int64 ``target`` with -1 where the sample's ``gt_mask`` is 0."""
    if 'gt_mask' not in sample:
        return target
    mask = np.asarray(torch.as_tensor(sample['gt_mask']).cpu()) > 0
    if mask.shape != target.shape:
        raise ValueError(
            f'gt_mask of "{sample.get("img_path", "?")}" has shape '
            f'{mask.shape}, the labels {target.shape}')
    return np.where(mask, target, -1)


def masked_per_class(per_class: Callable, scores: np.ndarray,
                     targets: np.ndarray) -> np.ndarray:
    """(C,) values of ``per_class`` with each class on its known rows.

    Args:
        per_class (Callable): ``(scores (N, C), targets (N, C)) -> (C,)``.
        scores (np.ndarray): (N, C).
        targets (np.ndarray): (N, C) in {1, 0, -1 (masked)}.

    Returns:
        np.ndarray: (C,) values; NaN for a class with no known row.
    """
    out = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        rows = targets[:, c] >= 0
        if rows.any():
            out[c] = per_class(scores[rows][:, [c]], targets[rows][:, [c]])[0]
    return out
