"""Per-class decision thresholds: choose them on validation scores, save, load.

A class is predicted positive when its score is ``>=`` its threshold (the
rule of :class:`~ldr_mm.models.LDRHead` and MMPretrain's multi-label heads).

Choice (:func:`choose_thresholds`), per class, over the validation scores:

* ``'f1'``: maximise F1 = 2 TP / (2 TP + FP + FN);
* ``'youden'``: maximise Youden's J = TPR - FPR (sensitivity + specificity
  - 1).

Every distinct validation score is a candidate cut. The threshold returned is
the midpoint between the chosen cut and the next lower distinct score, so it
reproduces the optimum on the validation set while not sitting exactly on one
validation image's score (scores of new images, or scores printed with fewer
digits, fall on the intended side). When several cuts tie, the highest is
kept (fewest positive calls). A class with only positives or only negatives in
the validation set has no defined optimum: it keeps ``default`` (0.5) and is
flagged ``fallback`` in the file, with a warning. A masked label (target -1,
U-Ignore's uncertain cell) is left out of its class: the class's optimum is
over its known rows, ``positives`` / ``negatives`` count known labels only.

File format (JSON, written atomically by :func:`save_thresholds`), the one
*decision file* of every tool (``tools/test.py --thresholds``, ``--show-dir``,
``tools/infer.py``, the inferencer, the confusion matrix)::

    {"format": "ldr_mm.thresholds", "version": 2,
     "criterion": "f1" | "youden" | "fixed",
     "classes": [names...], "thresholds": [floats...],
     "calibration": null | [{"class", "method", <parameters>}, ...],
     "source": "<the scores file or config/checkpoint>",
     "per_class": [{"class", "threshold", "value", "positives",
                    "negatives", "fallback"}, ...]}

Only ``classes`` and ``thresholds`` (and ``calibration``) are needed to
apply it. ``calibration`` holds one monotone map per class
(:mod:`ldr_mm.evaluation.calibration`), fitted on the same validation
scores; when present, ``thresholds`` are on the *calibrated* probabilities:
a reader calibrates the model's sigmoid scores first, then compares with
the thresholds (:meth:`Decisions.decide`). Version 1 files (no
``calibration`` key) are read as uncalibrated. :func:`load_decision_file`
checks the class names, in order, against the model's.
"""
import json
import math
import os.path as osp
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ldr_mm.evaluation.metrics.label_mask import known_cells
from ldr_mm.utils import atomic_write, class_difference

FORMAT = 'ldr_mm.thresholds'
VERSION = 2
#: File versions this code reads.
READABLE_VERSIONS = (1, 2)
CRITERIA = ('f1', 'youden')


class ThresholdFileError(ValueError):
    """A thresholds file is unreadable or made for other classes."""


def _criterion_curve(scores: np.ndarray, targets: np.ndarray,
                     criterion: str):
    """Criterion at each distinct score (cut ``score >= s``), descending.

    Returns:
        tuple: distinct scores (K,) descending, criterion values (K,).
    """
    order = np.argsort(-scores, kind='mergesort')
    s = scores[order]
    t = targets[order].astype(np.float64)
    tp = np.cumsum(t)
    fp = np.cumsum(1.0 - t)
    ends = np.ones_like(s, dtype=bool)
    ends[:-1] = s[1:] != s[:-1]  # last element of each tie group
    s, tp, fp = s[ends], tp[ends], fp[ends]
    pos = t.sum()
    neg = t.size - pos
    if criterion == 'f1':
        value = 2 * tp / (tp + fp + pos)
    elif criterion == 'youden':
        value = tp / pos - fp / neg
    else:
        raise ValueError(f'criterion must be one of {CRITERIA}, got '
                         f'{criterion!r}')
    return s, value


def _check_inputs(scores, targets, criterion: str,
                  classes: Optional[Sequence[str]]):
    """Validate (N, C) scores / targets (1, 0 or -1 = masked); default
    class names to indices.

    Returns:
        tuple: float64 scores (N, C), targets (N, C), list of C class names.
    """
    if criterion not in CRITERIA:
        raise ValueError(f'criterion must be one of {CRITERIA}, got '
                         f'{criterion!r}')
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(f'scores {scores.shape} and targets '
                         f'{targets.shape} must both be (N, C)')
    if not np.isfinite(scores).all():
        raise ValueError('scores contain NaN or Inf')
    known_cells(targets)  # 1, 0 or -1 (masked)
    C = scores.shape[1]
    classes = list(classes) if classes is not None else [
        str(i) for i in range(C)]
    if len(classes) != C:
        raise ValueError(f'{len(classes)} class names for {C} score columns')
    return scores, targets, classes


def _best_cut(scores, targets, criterion: str) -> Tuple[float, float]:
    """Threshold maximising ``criterion`` for one class.

    Args:
        scores: (N,) scores of the class.
        targets: (N,) 0/1 labels with both values present.

    Returns:
        tuple: the threshold (midway between the best cut's score and the
        next lower distinct score) and the criterion value reached there.
    """
    s, value = _criterion_curve(scores, targets, criterion)
    k = int(np.argmax(value))  # first maximum = highest cut
    lower = s[k + 1] if k + 1 < len(s) else None
    t = float(s[k]) if lower is None else float((s[k] + lower) / 2)
    return t, float(value[k])


def choose_thresholds(scores, targets, criterion: str = 'f1',
                      classes: Optional[Sequence[str]] = None,
                      default: float = 0.5) -> Dict[str, list]:
    """Per-class thresholds maximising ``criterion`` on (scores, targets).

    Args:
        scores: (N, C) scores in [0, 1] (sigmoid outputs).
        targets: (N, C) labels, 1, 0 or -1 (masked: left out of its
            class).
        criterion (str): ``'f1'`` or ``'youden'``.
        classes (Sequence[str], optional): Class names, for messages and the
            result.
        default (float): Threshold of a class without both label values.

    Returns:
        dict: ``thresholds`` (C floats), ``values`` (the criterion reached on
        the given set; NaN for fallbacks), ``positives``, ``negatives``,
        ``fallback`` (C bools), ``classes``.
    """
    scores, targets, classes = _check_inputs(scores, targets, criterion,
                                             classes)
    C = scores.shape[1]
    thr, values, fallback = [], [], []
    known = known_cells(targets)
    pos = (targets == 1).sum(0).astype(int)
    neg = (targets == 0).sum(0).astype(int)
    for c in range(C):
        if pos[c] == 0 or neg[c] == 0:
            thr.append(float(default))
            values.append(math.nan)
            fallback.append(True)
            continue
        rows = known[:, c]
        t, value = _best_cut(scores[rows, c], targets[rows, c], criterion)
        thr.append(t)
        values.append(value)
        fallback.append(False)
    missing = [classes[c] for c in range(C) if fallback[c]]
    if missing:
        warnings.warn(
            f'Class(es) {missing} have only positives or only negatives in '
            f'the given set: no {criterion} optimum exists; they keep the '
            f'threshold {default}.')
    return dict(classes=classes, thresholds=thr, values=values,
                positives=pos.tolist(), negatives=neg.tolist(),
                fallback=fallback)


def save_thresholds(path: str, classes: Sequence[str],
                    thresholds: Sequence[float], criterion: str,
                    source: Optional[str] = None,
                    values: Optional[Sequence[float]] = None,
                    positives: Optional[Sequence[int]] = None,
                    negatives: Optional[Sequence[int]] = None,
                    fallback: Optional[Sequence[bool]] = None,
                    calibration: Optional[List[dict]] = None) -> dict:
    """Write a decision file (format in the module docstring) atomically.

    ``calibration``: C maps of
    :func:`~ldr_mm.evaluation.calibration.fit_calibration`, or None; when
    given, ``thresholds`` must be on the calibrated probabilities.
    """
    classes = [str(c) for c in classes]
    thresholds = [float(t) for t in thresholds]
    if len(classes) != len(thresholds):
        raise ValueError(f'{len(thresholds)} thresholds for {len(classes)} '
                         'classes')
    per_class = []
    for i, (c, t) in enumerate(zip(classes, thresholds)):
        row = dict({'class': c, 'threshold': t})
        if values is not None:
            v = float(values[i])
            row['value'] = None if math.isnan(v) else v
        if positives is not None:
            row['positives'] = int(positives[i])
        if negatives is not None:
            row['negatives'] = int(negatives[i])
        if fallback is not None:
            row['fallback'] = bool(fallback[i])
        per_class.append(row)
    if calibration is not None:
        from ldr_mm.evaluation.calibration import check_maps
        check_maps(calibration, len(classes))
    data = dict(format=FORMAT, version=VERSION, criterion=str(criterion),
                classes=classes, thresholds=thresholds,
                calibration=calibration, source=source, per_class=per_class)
    with atomic_write(path) as f:
        json.dump(data, f, indent=1)
    return data


class Decisions(NamedTuple):
    """A decision file as read by :func:`load_decision_file`.

    Attributes:
        path (str): The file.
        version (int): Its format version.
        classes (list[str]): C class names, in column order.
        thresholds (np.ndarray): (C,) float64, on calibrated probabilities
            when ``calibration`` is set.
        calibration (list[dict], optional): C per-class maps, or None.
        criterion (str): How the thresholds were chosen.
    """
    path: str
    version: int
    classes: List[str]
    thresholds: np.ndarray
    calibration: Optional[List[dict]]
    criterion: str

    def calibrate(self, scores) -> np.ndarray:
        """(N, C) (or (C,)) float64 probabilities the thresholds apply to:
        the scores through the file's calibration (unchanged without)."""
        if self.calibration is None:
            return np.asarray(scores, dtype=np.float64)
        from ldr_mm.evaluation.calibration import apply_calibration
        return apply_calibration(scores, self.calibration)

    def decide(self, scores) -> np.ndarray:
        """Bool (N, C): calibrated score ``>=`` the class's threshold."""
        return self.calibrate(scores) >= self.thresholds


def _read_json(path: str) -> dict:
    if not osp.isfile(path):
        raise ThresholdFileError(f'Thresholds file "{path}" does not exist')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ThresholdFileError(
            f'Thresholds file "{path}" could not be read: {e}') from e
    if not isinstance(data, dict) or data.get('format') != FORMAT or \
            'classes' not in data or 'thresholds' not in data:
        raise ThresholdFileError(
            f'"{path}" is not an ldr_mm thresholds file (make one with '
            'tools/misc/choose_thresholds.py)')
    version = data.get('version', 1)
    if version not in READABLE_VERSIONS:
        raise ThresholdFileError(
            f'Thresholds file "{path}" has format version {version!r}; this '
            f'ldr_mm reads versions {list(READABLE_VERSIONS)} (update '
            'ldr_mm, or write the file again with this version\'s '
            'tools/misc/choose_thresholds.py)')
    return data


def load_decision_file(path: str,
                       classes: Optional[Sequence[str]] = None
                       ) -> Decisions:
    """Read a decision (thresholds + calibration) file, any readable
    version; check its classes, names and order, against ``classes``.

    Raises:
        ThresholdFileError: The file is missing, not a thresholds file, of an
            unknown version, holds invalid values, or was made for other
            classes (the message names the file and the differences).
    """
    data = _read_json(path)
    file_classes = [str(c) for c in data['classes']]
    try:
        thr = [float(t) for t in data['thresholds']]
    except (TypeError, ValueError) as e:
        raise ThresholdFileError(
            f'Thresholds file "{path}": non-numeric threshold ({e})') from e
    if len(thr) != len(file_classes):
        raise ThresholdFileError(
            f'Thresholds file "{path}" has {len(thr)} thresholds for '
            f'{len(file_classes)} classes')
    bad = [c for c, t in zip(file_classes, thr)
           if not (math.isfinite(t) and 0.0 <= t <= 1.0)]
    if bad:
        raise ThresholdFileError(
            f'Thresholds file "{path}": thresholds of {bad} are not in '
            '[0, 1]')
    if classes is not None and list(classes) != file_classes:
        detail = class_difference(file_classes, classes,
                                  names=('the file', 'the model'))
        raise ThresholdFileError(
            f'Thresholds file "{path}" was made for the classes '
            f'{file_classes}, but the model has {list(classes)} ({detail}).')
    calibration = data.get('calibration')
    if calibration is not None:
        from ldr_mm.evaluation.calibration import check_maps
        try:
            check_maps(calibration, len(file_classes))
        except (TypeError, ValueError) as e:
            raise ThresholdFileError(
                f'Thresholds file "{path}": {e}') from e
    return Decisions(path, int(data.get('version', 1)), file_classes,
                     np.asarray(thr, dtype=np.float64), calibration,
                     str(data.get('criterion', '')))


def load_thresholds(path: str,
                    classes: Optional[Sequence[str]] = None) -> List[float]:
    """The thresholds of a decision file (:func:`load_decision_file`).

    Raises:
        ThresholdFileError: As :func:`load_decision_file`.
    """
    return load_decision_file(path, classes).thresholds.tolist()


def _thresholds_from_dict(thresholds: Dict[str, float],
                          classes: Sequence[str], fallback,
                          partial: bool) -> List[float]:
    """Dict -> per-class list; omitted classes keep ``fallback``."""
    unknown = [k for k in thresholds if k not in classes]
    missing = [c for c in classes if c not in thresholds]
    if unknown or (missing and not partial):
        raise ValueError(f'Threshold dict: unknown classes {unknown}, '
                         f'missing classes {missing} (the model\'s classes: '
                         f'{list(classes)})')
    default = resolve_thresholds(None, classes, fallback)
    if missing:
        shown = sorted({f'{default[classes.index(c)]:g}' for c in missing})
        warnings.warn(
            f'Threshold dict names {len(classes) - len(missing)} of '
            f'{len(classes)} classes; {missing} keep the default threshold '
            f'{", ".join(shown)}.')
    return [float(thresholds[c]) if c in thresholds else
            float(default[i]) for i, c in enumerate(classes)]


def resolve_thresholds(thresholds: Union[None, float, str, Sequence[float],
                                         Dict[str, float]],
                       classes: Sequence[str],
                       fallback: Union[float, Sequence[float], None] = 0.5,
                       partial: bool = True) -> np.ndarray:
    """Per-class thresholds (C,) from any accepted form.

    Args:
        thresholds: ``None`` (use ``fallback``), one float for all classes,
            a sequence of C floats, a ``{class: threshold}`` dict, or the
            path of a thresholds file.
        classes (Sequence[str]): The model's class names (C,).
        fallback: Used when ``thresholds`` is None (e.g. the head's ``thr``),
            and for the classes a dict omits.
        partial (bool): A dict may omit classes; they keep ``fallback`` and
            a warning names them. ``False``: omitting a class is an error.
            A dict key that is not a class is always an error.
    """
    classes = list(classes)
    C = len(classes)
    if thresholds is None:
        thresholds = 0.5 if fallback is None else fallback
    if isinstance(thresholds, str):
        thr = load_thresholds(thresholds, classes)
    elif isinstance(thresholds, dict):
        thr = _thresholds_from_dict(thresholds, classes, fallback, partial)
    elif isinstance(thresholds, (int, float)):
        thr = [float(thresholds)] * C
    else:
        thr = [float(t) for t in thresholds]
        if len(thr) != C:
            raise ValueError(f'{len(thr)} thresholds for {C} classes')
    thr = np.asarray(thr, dtype=np.float64)
    if not (np.isfinite(thr).all() and (thr >= 0).all() and
            (thr <= 1).all()):
        raise ValueError(f'Thresholds must be in [0, 1], got {thr.tolist()}')
    return thr


def decide_samples(samples, decisions: Decisions) -> None:
    """Calibrate and threshold predicted data samples in place.

    The one place a model's predictions become decisions (``tools/test.py``
    -- its metrics, clinical report and ``--show-dir`` -- and
    :class:`~ldr_mm.apis.MultiLabelInferencer`). For each sample:
    ``pred_score`` (C,) becomes the float64 calibrated probabilities (the
    model's own sigmoid scores are kept as ``uncalibrated_score`` when the
    file calibrates) and ``pred_label`` the classes whose calibrated score
    is ``>=`` their threshold.

    Args:
        samples (list[DataSample]): Predictions with ``pred_score`` (C,).
        decisions (Decisions): The decision file's content.
    """
    import torch
    C = len(decisions.classes)
    for s in samples:
        raw = s.pred_score.detach().cpu()
        if raw.numel() != C:
            raise ValueError(f'The model gives {raw.numel()} scores for {C} '
                             f'classes of "{decisions.path}"')
        prob = decisions.calibrate(raw.double().numpy())
        if decisions.calibration is not None:
            s.set_field(raw, 'uncalibrated_score')
        s.set_pred_score(torch.from_numpy(prob))
        s.set_pred_label(torch.from_numpy(
            np.flatnonzero(prob >= decisions.thresholds)))


def fixed_decisions(thresholds, classes: Sequence[str],
                    fallback=0.5) -> Decisions:
    """:class:`Decisions` of any form :func:`resolve_thresholds` takes (a
    decision file keeps its calibration)."""
    if isinstance(thresholds, str):
        return load_decision_file(thresholds, classes)
    thr = resolve_thresholds(thresholds, classes, fallback)
    return Decisions('<given thresholds>', VERSION, list(classes), thr, None,
                     'fixed')
