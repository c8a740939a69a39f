"""Probability calibration: measures (ECE, Brier) and post-hoc maps.

Measures (definitions in ``docs/metrics.md``), per class over the rows
whose label of the class is known (a masked cell, target -1, is left out,
:mod:`~ldr_mm.evaluation.metrics.label_mask`):

* :func:`ece_equal_mass`: the class's n known rows sorted by score
  (stable) and cut into ``B`` contiguous bins whose sizes differ by at most
  one (``numpy.array_split``); ``ECE = sum_b n_b / n * |mean(y_b) -
  mean(p_b)|`` (adaptive ECE, Nixon et al. 2019).
* :func:`ece_equal_width`: the same sum over the bins ``[0, 1/B], (1/B,
  2/B], ..., ((B-1)/B, 1]`` (empty bins add 0); its mean over classes is
  the classwise ECE of Kull et al. 2019.
* :func:`brier_per_class`: ``mean((p - y)^2)``.

Post-hoc maps (:func:`fit_calibration`, :func:`apply_calibration`), one per
class, fitted on validation scores:

* ``'temperature'``: ``p' = sigmoid(logit(p) / T)``, ``T > 0``;
* ``'platt'``: ``p' = sigmoid(a * logit(p) + b)``, ``a > 0``;
* ``'isotonic'``: scikit-learn's ``IsotonicRegression`` (linear between its
  knots, clipped outside), mixed as ``(1 - 1e-6) * iso(p) + 1e-6 * p`` so
  it is strictly increasing: no two scores become tied.

Every map is strictly increasing in p, so each class's ranking, hence its
AUC and AP, is unchanged. A class without both label values in the
fitting set keeps the identity map (``method: 'identity'``).
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .metrics.label_mask import known_cells

METHODS = ('temperature', 'platt', 'isotonic')
#: Weight of the identity in the isotonic map (makes it strictly
#: increasing).
ISOTONIC_MIX = 1e-6


def _check(scores, targets):
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(f'scores {scores.shape} and targets '
                         f'{targets.shape} must both be (N, C)')
    return scores, targets, known_cells(targets)


def _binned_error(p: np.ndarray, y: np.ndarray, bins: List[np.ndarray]):
    """sum_b n_b / n |mean(y_b) - mean(p_b)| over non-empty index bins."""
    n = p.size
    return float(sum(idx.size / n * abs(y[idx].mean() - p[idx].mean())
                     for idx in bins if idx.size))


def _per_class(fn, scores, targets, num_bins: int) -> np.ndarray:
    if num_bins < 1:
        raise ValueError(f'num_bins must be >= 1, got {num_bins}')
    scores, targets, known = _check(scores, targets)
    out = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        rows = known[:, c]
        if rows.any():
            out[c] = fn(scores[rows, c], (targets[rows, c] == 1) * 1.0,
                        num_bins)
    return out


def _equal_mass(p, y, num_bins):
    order = np.argsort(p, kind='mergesort')
    return _binned_error(p, y, np.array_split(order, num_bins))


def _equal_width(p, y, num_bins):
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    ids = np.searchsorted(edges[1:-1], p, side='left')
    return _binned_error(p, y, [np.flatnonzero(ids == b)
                                for b in range(num_bins)])


def ece_equal_mass(scores, targets, num_bins: int = 15) -> np.ndarray:
    """Per-class ECE with equal-mass bins (module docstring).

    Args:
        scores: (N, C) probabilities.
        targets: (N, C) labels, 1, 0 or -1 (masked: left out).
        num_bins (int): B.

    Returns:
        np.ndarray: (C,) ECE; NaN for a class without a known row.
    """
    return _per_class(_equal_mass, scores, targets, num_bins)


def ece_equal_width(scores, targets, num_bins: int = 15) -> np.ndarray:
    """Per-class ECE with B equal-width bins; the mean over classes is the
    classwise ECE. Shapes as :func:`ece_equal_mass`."""
    return _per_class(_equal_width, scores, targets, num_bins)


def brier_per_class(scores, targets) -> np.ndarray:
    """(C,) mean squared error of the probabilities on the known rows."""
    return _per_class(lambda p, y, _: float(np.mean((p - y)**2)), scores,
                      targets, 1)


def reliability_bins(scores, targets, column: int, num_bins: int = 15):
    """Equal-mass reliability points of one class (known rows only).

    Returns:
        tuple: (mean score, observed positive rate, count) per non-empty bin,
        each (K,).
    """
    scores, targets, known = _check(scores, targets)
    rows = known[:, column]
    p = scores[rows, column]
    y = (targets[rows, column] == 1) * 1.0
    order = np.argsort(p, kind='mergesort')
    bins = [b for b in np.array_split(order, num_bins) if b.size]
    return (np.array([p[b].mean() for b in bins]),
            np.array([y[b].mean() for b in bins]),
            np.array([b.size for b in bins]))


# ---------------------------------------------------------------- the maps
def logit(p) -> np.ndarray:
    """float64 log(p / (1 - p)), finite: p is clipped to the open (0, 1)
    by the smallest float64 steps only (no new ties among scores < 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), np.finfo(np.float64).tiny,
                1.0 - np.finfo(np.float64).epsneg)
    return np.log(p) - np.log1p(-p)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _fit_logistic(z: np.ndarray, y: np.ndarray, intercept: bool):
    """Unregularised logistic fit of y on the logit z: (a, b)."""
    from sklearn.linear_model import LogisticRegression
    lr = LogisticRegression(C=1e10, fit_intercept=intercept, max_iter=1000,
                            tol=1e-10)
    lr.fit(z[:, None], y.astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0]) if intercept \
        else 0.0


def _fit_one(p: np.ndarray, y: np.ndarray, method: str) -> dict:
    if method == 'isotonic':
        from sklearn.isotonic import IsotonicRegression
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds='clip')
        iso.fit(p, y)
        return dict(method='isotonic',
                    x=[float(v) for v in iso.X_thresholds_],
                    y=[float(v) for v in iso.y_thresholds_])
    a, b = _fit_logistic(logit(p), y, intercept=method == 'platt')
    if not (math.isfinite(a) and a > 0):
        return dict(method='identity', reason=f'fitted slope {a:g} <= 0')
    if method == 'temperature':
        return dict(method='temperature', temperature=1.0 / a)
    return dict(method='platt', a=a, b=b)


def fit_calibration(scores, targets, method: str = 'temperature',
                    classes: Optional[Sequence[str]] = None) -> List[dict]:
    """One monotone map per class, fitted on (validation) scores.

    Args:
        scores: (N, C) probabilities.
        targets: (N, C) labels, 1, 0 or -1 (masked: left out of the fit).
        method (str): ``'temperature'``, ``'platt'`` or ``'isotonic'``.
        classes (Sequence[str], optional): Names, stored as ``class``.

    Returns:
        list[dict]: C maps, each ``{'class', 'method', <parameters>}``
        (``'identity'`` with a ``reason`` for a class that cannot be fitted).
    """
    if method not in METHODS:
        raise ValueError(f'calibration method must be one of {METHODS}, '
                         f'got {method!r}')
    scores, targets, known = _check(scores, targets)
    C = scores.shape[1]
    classes = list(classes) if classes is not None else [
        str(i) for i in range(C)]
    maps = []
    for c in range(C):
        rows = known[:, c]
        y = (targets[rows, c] == 1) * 1.0
        if y.size == 0 or y.min() == y.max():
            m = dict(method='identity',
                     reason='no positives or no negatives to fit on')
        else:
            m = _fit_one(scores[rows, c], y, method)
        maps.append(dict({'class': classes[c]}, **m))
    return maps


def _apply_one(p: np.ndarray, m: Dict) -> np.ndarray:
    kind = m['method']
    if kind == 'identity':
        return p
    if kind == 'temperature':
        return _sigmoid(logit(p) / float(m['temperature']))
    if kind == 'platt':
        return _sigmoid(float(m['a']) * logit(p) + float(m['b']))
    if kind == 'isotonic':
        iso = np.interp(p, np.asarray(m['x'], dtype=np.float64),
                        np.asarray(m['y'], dtype=np.float64))
        return (1.0 - ISOTONIC_MIX) * iso + ISOTONIC_MIX * p
    raise ValueError(f'unknown calibration method {kind!r}')


def apply_calibration(scores, maps: Sequence[dict]) -> np.ndarray:
    """Calibrated (N, C) float64 probabilities of (N, C) ``scores``.

    The scores are taken as the float32 values the model gives (a score
    file's text reads back as them, :func:`~ldr_mm.evaluation.metrics.dump.
    score_text`), so a score file and the run that wrote it calibrate to
    the same float64 numbers and decide alike.

    Args:
        scores: (N, C) (or (C,)) sigmoid scores of the model.
        maps (Sequence[dict]): C maps of :func:`fit_calibration`.
    """
    scores = np.asarray(scores, dtype=np.float32).astype(np.float64)
    flat = scores.reshape(-1, scores.shape[-1])
    if flat.shape[1] != len(maps):
        raise ValueError(f'{len(maps)} calibration maps for '
                         f'{flat.shape[1]} score columns')
    out = np.stack([_apply_one(flat[:, c], m) for c, m in enumerate(maps)],
                   axis=1)
    return out.reshape(scores.shape)


def check_maps(maps, num_classes: int) -> None:
    """Raise ValueError naming the class of a malformed map."""
    if not isinstance(maps, list) or len(maps) != num_classes:
        raise ValueError(f'calibration must be a list of {num_classes} maps')
    need = dict(identity=(), temperature=('temperature', ),
                platt=('a', 'b'), isotonic=('x', 'y'))
    for i, m in enumerate(maps):
        name = m.get('class', i) if isinstance(m, dict) else i
        if not isinstance(m, dict) or m.get('method') not in need:
            raise ValueError(f'calibration of class {name!r}: method must be '
                             f'one of {sorted(need)}')
        missing = [k for k in need[m['method']] if k not in m]
        if missing:
            raise ValueError(f'calibration of class {name!r}: missing '
                             f'{missing}')
        if m['method'] == 'temperature' and not float(m['temperature']) > 0:
            raise ValueError(f'calibration of class {name!r}: temperature '
                             'must be > 0')
        if m['method'] == 'platt' and not float(m['a']) > 0:
            raise ValueError(f'calibration of class {name!r}: slope a must '
                             'be > 0 (a monotone map)')
        if m['method'] == 'isotonic' and (
                len(m['x']) != len(m['y']) or len(m['x']) < 1 or
                np.any(np.diff(m['x']) < 0) or np.any(np.diff(m['y']) < 0)):
            raise ValueError(f'calibration of class {name!r}: isotonic knots '
                             'must be equally many and non-decreasing')


def _affine_params(maps: Sequence[dict]):
    """(C,) slope and intercept on the logit; identity for isotonic."""
    a, b = [], []
    for m in maps:
        kind = m['method']
        a.append(1.0 / float(m['temperature']) if kind == 'temperature'
                 else float(m['a']) if kind == 'platt' else 1.0)
        b.append(float(m['b']) if kind == 'platt' else 0.0)
    return a, b


def _isotonic_params(maps: Sequence[dict]):
    """Per class padded knots: left ends (C, K), slopes (C, K), widths
    (C, K) and start values (C,) of ``y0 + sum_k slope_k * clamp(p - x_k,
    0, width_k)`` (= ``numpy.interp``, clipped outside)."""
    K = max([len(m['x']) for m in maps if m['method'] == 'isotonic'] + [1])
    C = len(maps)
    x0, slope, width = (np.zeros((C, K)) for _ in range(3))
    y0 = np.zeros(C)
    for c, m in enumerate(maps):
        if m['method'] != 'isotonic':
            continue
        x, y = np.asarray(m['x'], float), np.asarray(m['y'], float)
        y0[c] = y[0]
        dx = np.diff(x)
        ok = dx > 0
        k = int(ok.sum())
        x0[c, :k] = x[:-1][ok]
        width[c, :k] = dx[ok]
        slope[c, :k] = np.diff(y)[ok] / dx[ok]
    return x0, slope, width, y0


class CalibrationLayer(torch.nn.Module):
    """The maps of a decision file as a traceable module: logits (B, C) ->
    calibrated probabilities (B, C), the same as
    :func:`apply_calibration` on ``sigmoid(logits)`` (to float32 rounding).

    Only elementwise ops (sigmoid, mul, add, maximum, minimum, where), so it
    traces and exports (TorchScript, ONNX) with the model. ``maps=None``:
    the plain sigmoid.

    Args:
        maps (Sequence[dict], optional): C maps of :func:`fit_calibration`.
        num_classes (int, optional): C, needed when ``maps`` is None.
    """

    def __init__(self, maps: Optional[Sequence[dict]] = None,
                 num_classes: Optional[int] = None):
        super().__init__()
        if maps is None:
            maps = [dict(method='identity')] * int(num_classes)
        check_maps(list(maps), len(maps))
        a, b = _affine_params(maps)
        x0, slope, width, y0 = _isotonic_params(maps)
        f32 = dict(dtype=torch.float32)
        self.register_buffer('a', torch.tensor(a, **f32))
        self.register_buffer('b', torch.tensor(b, **f32))
        self.register_buffer('iso', torch.tensor(
            [m['method'] == 'isotonic' for m in maps]))
        self.register_buffer('x0', torch.tensor(x0, **f32))
        self.register_buffer('slope', torch.tensor(slope, **f32))
        self.register_buffer('width', torch.tensor(width, **f32))
        self.register_buffer('y0', torch.tensor(y0, **f32))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, C) logits -> (B, C) calibrated probabilities."""
        affine = torch.sigmoid(logits * self.a + self.b)
        p = torch.sigmoid(logits).unsqueeze(-1)  # (B, C, 1)
        step = torch.minimum(torch.maximum(p - self.x0, torch.zeros_like(
            self.x0)), self.width)
        iso = self.y0 + (self.slope * step).sum(-1)
        iso = (1.0 - ISOTONIC_MIX) * iso + ISOTONIC_MIX * p.squeeze(-1)
        return torch.where(self.iso, iso, affine)
