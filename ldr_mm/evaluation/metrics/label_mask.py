"""U-Ignore masks in evaluation: masked entries are left out, per class.

The one home of "which label cells count". Everywhere in evaluation (the
metric classes, :mod:`ldr_mm.evaluation.functional`,
:mod:`ldr_mm.evaluation.clinical`, threshold choice, score files) a masked
label is the target value ``-1`` (:data:`MASKED`): a sample's ``gt_mask``
0 (:func:`apply_gt_mask`), an empty cell of a score file. Patient
aggregation keeps checking that a patient's rows agree, masks included.
Every per-class value is computed on the rows whose label of that class
is known (:func:`known_cells`, :func:`masked_per_class`): a masked cell is
neither a positive nor a negative of AUC, AP, the accuracies, the
operating points, the bootstrap resamples, the curves and the thresholds.
"""
import warnings
from typing import Callable

import numpy as np
import torch

#: Target value of a masked (uncertain, U-Ignore) label cell.
MASKED = -1


def apply_gt_mask(target: np.ndarray, sample: dict) -> np.ndarray:
    """(C,) int64 ``target`` with -1 where the sample's ``gt_mask`` is 0."""
    if 'gt_mask' not in sample:
        return target
    mask = np.asarray(torch.as_tensor(sample['gt_mask']).cpu()) > 0
    if mask.shape != target.shape:
        raise ValueError(
            f'gt_mask of "{sample.get("img_path", "?")}" has shape '
            f'{mask.shape}, the labels {target.shape}')
    return np.where(mask, target, MASKED)


def known_cells(targets) -> np.ndarray:
    """Bool array of ``targets``' shape: True where the label is known.

    Args:
        targets: (N, C) (or (N,)) labels in {1, 0, -1 (masked)}.

    Raises:
        ValueError: Another value, naming the first such cell.
    """
    targets = np.asarray(targets)
    bad = ~np.isin(targets, (0, 1, MASKED))
    if bad.any():
        cell = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f'targets must be 1, 0 or -1 (masked); got '
            f'{targets[cell]!r} at (sample, class) {cell}')
    return targets != MASKED


def masked_count(targets) -> np.ndarray:
    """(C,) int64 number of masked cells of each class of (N, C)
    ``targets``."""
    return (~known_cells(targets)).sum(0).astype(np.int64)


def masked_per_class(per_class: Callable, scores: np.ndarray,
                     targets: np.ndarray, *class_args):
    """``per_class`` computed for each class on its known rows.

    Args:
        per_class (Callable): ``(scores (N, C), targets (N, C), *args) ->
            (C,)`` array or dict of (C,) arrays, for 0/1 targets.
        scores (np.ndarray): (N, C).
        targets (np.ndarray): (N, C) in {1, 0, -1 (masked)}.
        *class_args: (C,) arrays (e.g. per-class thresholds), passed to
            ``per_class`` as the one entry of the class.

    Returns:
        np.ndarray | dict: As ``per_class``, (C,) values; NaN (float
        results) or 0 (integer results, counts) for a class with no known
        row.
    """
    scores, targets = np.asarray(scores), np.asarray(targets)
    known = known_cells(targets)
    C = scores.shape[1]
    parts = []
    for c in range(C):
        rows = known[:, c]
        args = [np.asarray(a)[[c]] for a in class_args]
        with warnings.catch_warnings():
            if not rows.any():  # no known row: numpy's empty-mean warning
                warnings.simplefilter('ignore', RuntimeWarning)
            parts.append(per_class(scores[rows][:, [c]],
                                   targets[rows][:, [c]], *args))

    def join(values):
        values = [np.asarray(v).reshape(-1)[0] for v in values]
        return np.asarray(values)

    if isinstance(parts[0], dict):
        return {k: join([p[k] for p in parts]) for k in parts[0]}
    return join(parts)
