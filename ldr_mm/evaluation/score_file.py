"""Read the per-image score files of ``tools/test.py --out``.

The writer is :class:`~ldr_mm.evaluation.MultiLabelScoreDump`: a CSV with
columns ``img_path``, ``score/<class>``... and ``gt/<class>``... (one row per
image), or a JSON dict with ``classes``, ``img_path``, ``scores`` and ``gt``.

A label cell is ``1`` or ``0``; a *masked* cell (an uncertain label under
U-Ignore, ``gt_mask`` 0) is an empty CSV field or JSON ``null``, and
``-1`` marks an image the run had no labels for. Reading, both become
target ``-1`` (left out of their class by every metric) and
:attr:`ScoreFile.masked` tells the masked cells apart. Files written before
masks were kept in score files (issue 23) hold a masked cell as ``0``;
they read as before, but their masked cells count as negatives: write them
again with ``tools/test.py --out``.
"""
import csv
import json
import os.path as osp
from typing import List, NamedTuple, Optional

import numpy as np


class ScoreFileError(ValueError):
    """A score file is missing, malformed or does not fit another one."""


class ScoreFile(NamedTuple):
    """Content of a score file.

    Attributes:
        path (str): The file.
        classes (list[str]): C class names, in column order.
        img_paths (list[str]): N image paths.
        scores (np.ndarray): (N, C) float64.
        gt (np.ndarray): (N, C) int64, 0/1; -1 for a masked cell and where
            the run had no labels.
        masked (np.ndarray, optional): (N, C) bool, True for a masked cell
            (empty / ``null`` in the file); None: no cell is masked.
    """
    path: str
    classes: List[str]
    img_paths: List[str]
    scores: np.ndarray
    gt: np.ndarray
    masked: Optional[np.ndarray] = None


def label_cell(text: str) -> Optional[int]:
    """1, 0 or -1 (unlabelled) of a CSV label field; None for a masked
    (empty) one.

    Raises:
        ValueError: Any other text.
    """
    if text == '':
        return None
    value = int(text)
    if value not in (0, 1, -1):
        raise ValueError(f'label {text!r} is not 1, 0, -1 or empty (masked)')
    return value


def _gt_and_mask(cells, C: int):
    """(N, C) int64 labels (-1 where masked) and the (N, C) mask.

    Raises:
        ValueError: A cell other than 1, 0, -1 or None (masked).
    """
    bad = [v for row in cells for v in row
           if v is not None and v not in (0, 1, -1)]
    if bad:
        raise ValueError(f'label {bad[0]!r} is not 1, 0, -1 or masked')
    masked = np.array([[v is None for v in row] for row in cells],
                      dtype=bool).reshape(-1, C)
    gt = np.array([[-1 if v is None else v for v in row] for row in cells],
                  dtype=np.int64).reshape(-1, C)
    return gt, masked


def _read_csv(path: str) -> ScoreFile:
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ScoreFileError(f'Score file "{path}" is empty') from None
        rows = list(reader)
    if not header or header[0] != 'img_path':
        raise ScoreFileError(
            f'"{path}" is not a tools/test.py --out file: the first column '
            f'must be img_path, got {header[:1]}')
    score_cols = [h for h in header[1:] if h.startswith('score/')]
    gt_cols = [h for h in header[1:] if h.startswith('gt/')]
    classes = [h[len('score/'):] for h in score_cols]
    other = [h for h in header[1:] if h not in score_cols and h not in gt_cols]
    if not classes or other or [h[len('gt/'):] for h in gt_cols] != classes \
            or header[1:] != score_cols + gt_cols:
        raise ScoreFileError(
            f'"{path}": expected columns img_path, score/<class>..., '
            f'gt/<class>... for the same classes; got {header}')
    C = len(classes)
    paths, scores, gt = [], [], []
    for i, row in enumerate(rows, start=2):
        if len(row) != 1 + 2 * C:
            raise ScoreFileError(f'"{path}" line {i}: {len(row)} fields, '
                                 f'expected {1 + 2 * C}')
        try:
            scores.append([float(v) for v in row[1:1 + C]])
            gt.append([label_cell(v) for v in row[1 + C:]])
        except ValueError as e:
            raise ScoreFileError(f'"{path}" line {i}: {e}') from None
        paths.append(row[0])
    return ScoreFile(path, classes, paths,
                     np.asarray(scores, dtype=np.float64).reshape(-1, C),
                     *_gt_and_mask(gt, C))


def _read_json(path: str) -> ScoreFile:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except ValueError as e:
        raise ScoreFileError(f'Score file "{path}" is not valid JSON: '
                             f'{e}') from None
    keys = ('classes', 'img_path', 'scores', 'gt')
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise ScoreFileError(f'"{path}" is not a tools/test.py --out file '
                             f'(needs the keys {list(keys)})')
    classes = [str(c) for c in data['classes']]
    C = len(classes)
    try:
        scores = np.asarray(data['scores'], dtype=np.float64).reshape(-1, C)
        gt, masked = _gt_and_mask(data['gt'], C)
    except (TypeError, ValueError) as e:
        raise ScoreFileError(f'"{path}": scores/gt are not (N, {C}) '
                             f'numbers: {e}') from None
    paths = [str(p) for p in data['img_path']]
    if not (len(paths) == scores.shape[0] == gt.shape[0]):
        raise ScoreFileError(f'"{path}": {len(paths)} paths, '
                             f'{scores.shape[0]} score rows, {gt.shape[0]} '
                             'label rows')
    return ScoreFile(path, classes, paths, scores, gt, masked)


def read_score_file(path: str) -> ScoreFile:
    """Read a ``tools/test.py --out`` file (``.csv`` or ``.json``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ScoreFileError: The file is not in the expected format (the message
            names the file and line), or holds non-finite scores.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Score file "{path}" does not exist')
    if path.endswith('.json'):
        out = _read_json(path)
    elif path.endswith('.csv'):
        out = _read_csv(path)
    else:
        raise ScoreFileError(f'"{path}": expected a .csv or .json file from '
                             'tools/test.py --out')
    if out.scores.shape[0] == 0:
        raise ScoreFileError(f'Score file "{path}" has no rows')
    if not np.isfinite(out.scores).all():
        r, c = np.argwhere(~np.isfinite(out.scores))[0]
        raise ScoreFileError(f'"{path}": non-finite score for image '
                             f'"{out.img_paths[r]}", class '
                             f'"{out.classes[c]}"')
    return out


def labelled(sf: ScoreFile) -> bool:
    """True when every image has labels: each cell 0, 1 or masked (no
    ``-1`` placeholder of an unlabelled image)."""
    known = np.isin(sf.gt, (0, 1))
    if sf.masked is not None:
        known |= sf.masked
    return bool(known.all())
