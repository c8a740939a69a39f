"""Uncertain labels (-1) of CheXpert-style tables and the label mask.

CheXpert, MIMIC-CXR-JPG (its ``-chexpert.csv``) and the generic CSV
dataset write each observation as ``1`` (positive), ``0`` (negative),
``-1`` (uncertain) or blank (not mentioned, read as negative, as in the
CheXpert paper). An uncertain entry becomes, by ``uncertain=``:

* ``'ones'`` (U-Ones): positive;
* ``'zeros'`` (U-Zeros): negative;
* ``'ignore'`` (U-Ignore): masked. Every sample then carries ``gt_mask``,
  a (C,) list, 1 where the label is known and 0 where it is uncertain. ``PackInputs(algorithm_keys=('gt_mask', ))`` puts it into the
  :class:`~mmpretrain.structures.DataSample`; :class:`~ldr_mm.models.LDRHead`
  leaves masked entries out of the loss and the ldr_mm metrics leave them
  out of every per-class value (AUC, AP, accuracies).
"""
import math
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from .base import AnnotationError, join_path

UNCERTAIN_POLICIES = ('ones', 'zeros', 'ignore')
_VALUES = {'1': 1, '1.0': 1, '0': 0, '0.0': 0, '-1': -1, '-1.0': -1, '': 0}


def check_policy(policy: str, where: str) -> str:
    """Return ``policy`` if it is one of :data:`UNCERTAIN_POLICIES`."""
    if policy not in UNCERTAIN_POLICIES:
        raise ValueError(f'{where}: uncertain must be one of '
                         f'{UNCERTAIN_POLICIES} (U-Ones, U-Zeros, '
                         f'U-Ignore), got {policy!r}')
    return policy


def parse_label_cell(value, where: str, column: str) -> int:
    """1, 0 or -1 from a label cell (``1``, ``1.0``, ``0``, ``-1``, blank).

    Raises:
        AnnotationError: Any other value; the message names ``where``
            (file and line) and the column.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    s = str(value).strip()
    if s not in _VALUES:
        raise AnnotationError(
            f'{where}: column "{column}" is {value!r}; a label is 1, 0, -1 '
            '(uncertain) or blank (not mentioned)')
    return _VALUES[s]


def apply_policy(values: Sequence[int], policy: str
                 ) -> Tuple[List[int], Optional[List[int]]]:
    """Class indices and, for U-Ignore, the (C,) 0/1 mask.

    Args:
        values (Sequence[int]): (C,) entries in {1, 0, -1}.
        policy (str): ``'ones'``, ``'zeros'`` or ``'ignore'``.

    Returns:
        tuple: (positive class indices, mask or None). The mask is a list
        (JSON-able, and a tenth of a NumPy array's cost when MMEngine
        pickles the data list).
    """
    positive = (1, -1) if policy == 'ones' else (1, )
    labels = [i for i, v in enumerate(values) if v in positive]
    mask = [int(v != -1) for v in values] if policy == 'ignore' else None
    return labels, mask


class LabelMaskMixin:
    """Checks that a U-Ignore dataset's mask reaches the data samples.

    A pipeline whose ``PackInputs`` does not pack ``gt_mask`` would train
    and evaluate the uncertain entries as negatives, silently: the first
    sample that arrives without it is an error naming the fix.

    Args:
        uncertain (str): ``'ones'``, ``'zeros'`` (default) or ``'ignore'``
            for the ``-1`` entries (stored, checked).
    """

    def __init__(self, *args, uncertain: str = 'zeros', **kwargs):
        self.uncertain = check_policy(uncertain, type(self).__name__)
        super().__init__(*args, **kwargs)

    def prepare_data(self, idx):
        data = super().prepare_data(idx)
        if self.uncertain == 'ignore' and isinstance(data, dict):
            sample = data.get('data_samples')
            if sample is not None and 'gt_mask' not in sample:
                raise ValueError(
                    f'{type(self).__name__}(uncertain="ignore") masks the '
                    'uncertain labels, but the pipeline does not pack '
                    '"gt_mask" into the data samples: use '
                    "dict(type='PackInputs', algorithm_keys=('gt_mask', ))"
                    ' in every pipeline of this dataset, or uncertain="ones"'
                    ' / "zeros".')
        return data


def parse_label_row(rec: dict, columns: Sequence[str],
                    where: str) -> List[int]:
    """(C,) entries in {1, 0, -1} of ``columns`` of one table row."""
    out = []
    for c in columns:
        v = _VALUES.get(rec.get(c))  # the files' own spellings, fast
        out.append(parse_label_cell(rec.get(c), where, c) if v is None
                   else v)
    return out


def missing_columns(fieldnames: Optional[Sequence[str]],
                    required: Sequence[str], path: str) -> None:
    """Raise naming the columns of ``required`` that the header lacks."""
    if fieldnames is None:
        raise AnnotationError(f'"{path}" is empty (no header line)')
    lack = [c for c in required if c not in fieldnames]
    if lack:
        raise AnnotationError(f'"{path}" lacks the column(s) {lack}; its '
                              f'header is {list(fieldnames)}')


def finish_samples(samples: List[dict], root: str, check_files: bool,
                   what: str) -> List[dict]:
    """Join image paths with ``root``; raise naming missing images."""
    missing = []
    for d in samples:
        d['img_path'] = join_path(root, d['img_path'])
        if check_files and not osp.isfile(d['img_path']):
            missing.append(d['img_path'])
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} of the {len(samples)} images of {what} do not '
            f'exist. First: {missing[:5]}')
    if not samples:
        raise AnnotationError(f'{what} is empty (check split, views)')
    return samples

