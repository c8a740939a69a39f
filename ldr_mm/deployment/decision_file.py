"""Read the decision file (thresholds and, optionally, a logit calibration)
an exported model is made with.

One function, :func:`read_decision_file`, is the only place the export
reads such a file. Today it reads the thresholds file of
:mod:`ldr_mm.apis.thresholds` (``format: ldr_mm.thresholds``), which may
carry an optional ``calibration`` entry of a per-class affine map on the
logits::

    "calibration": {"method": "temperature", "temperature": [C floats]}
        -> calibrated logit = logit / T_c
    "calibration": {"method": "platt", "a": [C floats], "b": [C floats]}
        -> calibrated logit = a_c * logit + b_c

Both are ``scale * logit + bias`` per class, so they are part of the
exported graph. A non-affine calibration (e.g. isotonic) is refused: it is
not representable by the exported model's affine layer.
"""
import json
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

from ldr_mm.apis.thresholds import ThresholdFileError, load_thresholds


class DecisionFile(NamedTuple):
    """What an exported model takes from a decision file.

    Attributes:
        thresholds (list[float] | None): Per-class thresholds (C,) on the
            (calibrated) probabilities; None without a file.
        scale (np.ndarray): (C,) multiplier of the logits (1 = none).
        bias (np.ndarray): (C,) offset of the scaled logits (0 = none).
        calibration (str): ``'none'``, ``'temperature'`` or ``'platt'``.
        source (str | None): The file.
    """
    thresholds: Optional[List[float]]
    scale: np.ndarray
    bias: np.ndarray
    calibration: str
    source: Optional[str]


def _per_class(path: str, values, name: str, num: int) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ThresholdFileError(
            f'Decision file "{path}": calibration.{name} is not a list of '
            f'numbers ({e})') from None
    if arr.shape != (num, ) or not np.isfinite(arr).all():
        raise ThresholdFileError(
            f'Decision file "{path}": calibration.{name} must hold {num} '
            f'finite numbers (one per class), got {list(values)}')
    return arr


def _affine(path: str, calib: dict, num: int):
    """(scale, bias, method) of a calibration entry."""
    method = calib.get('method')
    if method == 'temperature':
        t = _per_class(path, calib.get('temperature', ()), 'temperature',
                       num)
        if (t <= 0).any():
            raise ThresholdFileError(
                f'Decision file "{path}": temperatures must be > 0, got '
                f'{t.tolist()}')
        return 1.0 / t, np.zeros(num), method
    if method == 'platt':
        return (_per_class(path, calib.get('a', ()), 'a', num),
                _per_class(path, calib.get('b', ()), 'b', num), method)
    raise ThresholdFileError(
        f'Decision file "{path}": calibration method {method!r} is not an '
        'affine map on the logits and cannot be exported; use '
        '"temperature" or "platt" (or export without --decision-file).')


def read_decision_file(path: Optional[str],
                       classes: Sequence[str]) -> DecisionFile:
    """Thresholds and logit calibration for a model of ``classes``.

    Args:
        path (str, optional): A thresholds file (``ldr_mm.thresholds``),
            optionally with a ``calibration`` entry (module docstring).
            None: no thresholds, no calibration.
        classes (Sequence[str]): The model's class names (C,); the file's
            must equal them, in order.

    Raises:
        ThresholdFileError: Unreadable file, other classes, invalid values,
            or a calibration that is not affine on the logits.
    """
    num = len(classes)
    if path is None:
        return DecisionFile(None, np.ones(num), np.zeros(num), 'none', None)
    thresholds = load_thresholds(path, classes)  # checks format and classes
    with open(path, encoding='utf-8') as f:
        calib = json.load(f).get('calibration')
    if calib is None:
        return DecisionFile(thresholds, np.ones(num), np.zeros(num), 'none',
                            path)
    if not isinstance(calib, dict):
        raise ThresholdFileError(
            f'Decision file "{path}": "calibration" must be an object, got '
            f'{type(calib).__name__}')
    scale, bias, method = _affine(path, calib, num)
    return DecisionFile(thresholds, scale, bias, method, path)
