"""Axial spondyloarthritis (AxSpA) sacroiliac-joint MRI slices.

The paper's dataset is private; this module reads a documented generic
annotation table (one row per slice, several slices per patient) so that
anyone holding such data can train on it. See ``docs/datasets.md``.

CSV (header names matter, column order does not)::

    patient_id,img_path,slice_index,ER,EL,SR,SL,JSR,JSL,OR,OL,LR,LL,BMER,BMEL
    P0001,P0001/slice_07.png,7,0,0,1,0,1,1,0,0,0,0,1,0
    ...

or, instead of the 12 label columns, one ``labels`` column with the present
labels joined by ``|`` (empty = none): ``P0001,P0001/s07.png,7,SR|JSR|BMER``.
Optional columns: ``slice_index`` (per slice), ``split``
(``train``/``val``/``test``: a fixed split, constant per patient), ``sex``
and ``age`` (per patient). JSON: a list of objects with the same keys
(``labels`` as a list of names, or the 12 label keys), or
``{"data_list": [...]}``.
"""
import csv
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmpretrain.registry import DATASETS

from .base import (AnnotationError, MedicalMultiLabelDataset,
                   PatientSplitMixin, check_patient_value, join_path)
from .splits import (DEFAULT_RATIOS, SPLITS, patient_split,
                     stratified_patient_split, wanted_splits)
from .transforms.medical_io import NIFTI_SUFFIXES

AXSPA_CLASSES = ('ER', 'EL', 'SR', 'SL', 'JSR', 'JSL', 'OR', 'OL', 'LR', 'LL',
                 'BMER', 'BMEL')
AXSPA_PROMPT_NAMES = ('erosion right', 'erosion left', 'sclerosis right',
                      'sclerosis left', 'joint space right',
                      'joint space left', 'osteophyte right',
                      'osteophyte left', 'lipomatosis right',
                      'lipomatosis left', 'bone marrow edema right',
                      'bone marrow edema left')
AXSPA_HEAD = ('BMER', 'BMEL', 'JSR', 'JSL')
AXSPA_TAIL = tuple(c for c in AXSPA_CLASSES if c not in AXSPA_HEAD)
#: Columns besides the labels; ``split``, ``sex`` and ``age`` must be the
#: same on all rows of a patient.
AXSPA_COLUMNS = ('patient_id', 'img_path', 'slice_index', 'split', 'sex',
                 'age', 'labels')
AXSPA_PATIENT_COLUMNS = ('split', 'sex', 'age')
_LABEL_SEP = ('|', ';')


@dataclass
class AxSpAAnnotations:
    """A parsed AxSpA annotation table.

    Attributes:
        path (str): The file.
        img_paths (list[str]): (N,) slice image paths as written.
        labels (np.ndarray): (N, 12) uint8 multi-hot.
        patient_ids (list[str]): (N,).
        slice_index (list[int | None]): (N,).
        fixed_split (list[str] | None): (N,) the ``split`` column, if any.
        rows (list[str]): (N,) where each sample came from ("line 7").
    """
    path: str
    img_paths: List[str] = field(default_factory=list)
    labels: np.ndarray = None
    patient_ids: List[str] = field(default_factory=list)
    slice_index: List[Optional[int]] = field(default_factory=list)
    fixed_split: Optional[List[str]] = None
    rows: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.img_paths)


def _records(path: str):
    """(where, row, dict) per row of a CSV or JSON annotation file: ``where``
    names the file and the row (``'"a b.csv" line 7'``), ``row`` the row
    alone (``'line 7'``; the file path may contain spaces)."""
    if path.lower().endswith('.json'):
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if isinstance(data, dict):
            data = data.get('data_list')
        if not isinstance(data, list):
            raise AnnotationError(
                f'"{path}" must hold a list of slice records or '
                '{"data_list": [...]}')
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise AnnotationError(f'"{path}" record {i} is not an object')
            yield f'"{path}" record {i}', f'record {i}', rec
        return
    with open(path, encoding='utf-8-sig', newline='') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            raise AnnotationError(f'"{path}" is empty')
        for rec in reader:
            if None in rec:
                raise AnnotationError(
                    f'"{path}" line {reader.line_num}: more fields than the '
                    'header')
            if all((v or '').strip() == '' for v in rec.values()):
                continue
            row = f'line {reader.line_num}'
            yield f'"{path}" {row}', row, rec


def _parse_labels(where: str, rec: dict) -> List[int]:
    idx = {c: i for i, c in enumerate(AXSPA_CLASSES)}
    if 'labels' in rec:
        value = rec['labels']
        if isinstance(value, str):
            for sep in _LABEL_SEP[1:]:
                value = value.replace(sep, _LABEL_SEP[0])
            names = [v.strip() for v in value.split(_LABEL_SEP[0])]
            names = [n for n in names if n]
        elif isinstance(value, (list, tuple)):
            names = [str(v).strip() for v in value]
        elif value is None:
            names = []
        else:
            raise AnnotationError(f'{where}: labels must be a string or a '
                                  f'list, got {value!r}')
        unknown = [n for n in names if n not in idx]
        if unknown:
            raise AnnotationError(
                f'{where}: unknown label(s) {unknown}; known: '
                f'{list(AXSPA_CLASSES)}')
        if len(set(names)) != len(names):
            raise AnnotationError(f'{where}: repeated label in {names}')
        return sorted(idx[n] for n in names)
    out = []
    for c in AXSPA_CLASSES:
        v = rec.get(c)
        s = str(v).strip() if v is not None else ''
        if s in ('1', '1.0', 'True', 'true'):
            out.append(idx[c])
        elif s not in ('0', '0.0', 'False', 'false'):
            raise AnnotationError(
                f'{where}: label {c} is {v!r}, expected 0 or 1')
    return out


def _check_columns(where: str, keys: frozenset, known: set) -> None:
    """Columns of a row (checked again only when they change)."""
    unknown = sorted(k for k in keys if k not in known)
    if unknown:
        raise AnnotationError(
            f'{where}: unknown column(s) {unknown} (labels are '
            f'{list(AXSPA_CLASSES)}; other columns: '
            f'{list(AXSPA_COLUMNS)}; pass ignore_columns= to skip '
            'extra ones)')
    for k in ('patient_id', 'img_path'):
        if k not in keys:
            raise AnnotationError(f'{where}: no "{k}" column')
    has_cols = [c for c in AXSPA_CLASSES if c in keys]
    if 'labels' in keys and has_cols:
        raise AnnotationError(
            f'{where}: both a "labels" column and label columns '
            f'{has_cols}; use one of the two')
    if 'labels' not in keys and len(has_cols) != len(AXSPA_CLASSES):
        raise AnnotationError(
            f'{where}: label columns '
            f'{[c for c in AXSPA_CLASSES if c not in keys]} are '
            'missing (or use one "labels" column)')


def _slice_index(where: str, row: str, rec: dict, pid: str,
                 volume: Optional[str],
                 first_slice: Dict[tuple, str]) -> Optional[int]:
    """The row's integer slice index (None if absent), unique per patient.

    ``volume`` is the NIfTI path (slices of different volumes may share an
    index) or None; ``first_slice`` records the row each was first seen on
    (``row``: this row, ``'line 7'``).
    """
    sl = rec.get('slice_index')
    if sl is None or str(sl).strip() == '':
        return None
    try:
        sl = int(float(sl))
    except ValueError:
        raise AnnotationError(
            f'{where}: slice_index {sl!r} is not an integer') from None
    pkey = (pid, sl, volume)
    if pkey in first_slice:
        raise AnnotationError(
            f'{where}: patient {pid} slice {sl} is already listed at '
            f'{first_slice[pkey]}')
    first_slice[pkey] = row
    return sl


def _check_patient_meta(where: str, row: str, rec: dict, pid: str,
                        patient_meta: Dict[tuple, tuple]) -> None:
    """Per-patient columns (split, sex, age) agree on every row."""
    for k in AXSPA_PATIENT_COLUMNS:
        if k in rec:
            check_patient_value(
                patient_meta, pid, k,
                str(rec[k] if rec[k] is not None else '').strip(), where,
                row)


def _row_split(where: str, rec: dict) -> str:
    """The row's fixed split name."""
    s = str(rec['split'] or '').strip()
    if s not in SPLITS:
        raise AnnotationError(
            f'{where}: split "{s}" is not one of {list(SPLITS)}')
    return s


def read_axspa_annotations(path: str,
                           ignore_columns: Sequence[str] = ()
                           ) -> AxSpAAnnotations:
    """Read and check an AxSpA annotation table (CSV or JSON).

    Raises:
        AnnotationError: A missing or unknown column / label name, a label
            that is not 0/1, an empty patient id or image path, a duplicate
            image (or patient + slice index), or a patient whose ``split``,
            ``sex`` or ``age`` differs between rows. The message names the
            row.
    """
    ann = AxSpAAnnotations(path=path)
    label_rows = []
    first_img: Dict[str, str] = {}
    first_slice: Dict[tuple, str] = {}
    patient_meta: Dict[tuple, tuple] = {}
    splits = []
    known = set(AXSPA_COLUMNS) | set(AXSPA_CLASSES) | set(ignore_columns)
    checked_keys = None
    for where, row, rec in _records(path):
        keys = frozenset(rec)
        if keys != checked_keys:
            _check_columns(where, keys, known)
            checked_keys = keys
        pid = str(rec['patient_id'] if rec['patient_id'] is not None else
                  '').strip()
        img = str(rec['img_path'] or '').strip()
        if not pid or not img:
            raise AnnotationError(f'{where}: empty patient_id or img_path')
        # a NIfTI volume is listed once per slice (its slice_index)
        vol = img.lower().endswith(NIFTI_SUFFIXES)
        key = (img, str(rec.get('slice_index')).strip()) if vol else img
        if key in first_img:
            raise AnnotationError(
                f'{where}: image "{img}"' + (' slice ' + key[1] if vol else '')
                + f' is already listed at {first_img[key]}')
        first_img[key] = row
        sl = _slice_index(where, row, rec, pid, img if vol else None,
                          first_slice)
        _check_patient_meta(where, row, rec, pid, patient_meta)
        if 'split' in rec:
            splits.append(_row_split(where, rec))
        label_rows.append(_parse_labels(where, rec))
        ann.img_paths.append(img)
        ann.patient_ids.append(pid)
        ann.slice_index.append(sl)
        ann.rows.append(where)
    if not ann.img_paths:
        raise AnnotationError(f'"{path}" has no slice rows')
    ann.labels = np.zeros((len(ann), len(AXSPA_CLASSES)), dtype=np.uint8)
    for i, lab in enumerate(label_rows):
        ann.labels[i, lab] = 1
    if splits:
        ann.fixed_split = splits
    return ann


#: ``split_method`` values of :func:`axspa_split`.
SPLIT_METHODS = ('auto', 'column', 'patient', 'stratified')


def axspa_split(ann: AxSpAAnnotations,
                method: str = 'auto',
                ratios: Sequence[float] = DEFAULT_RATIOS,
                seed: int = 0) -> np.ndarray:
    """(N,) split name of every slice.

    ``method='column'`` uses the file's ``split`` column; ``'patient'`` a
    seeded patient-level split weighted by slice count (7:1:2 by images);
    ``'stratified'`` the same stratified by the labels
    (:func:`~ldr_mm.datasets.splits.stratified_patient_split`); ``'auto'``
    the column when present, else the patient split.
    """
    if method not in SPLIT_METHODS:
        raise ValueError(f'split_method must be one of {SPLIT_METHODS}, '
                         f'got {method!r}')
    if method == 'column' and ann.fixed_split is None:
        raise AnnotationError(f'"{ann.path}" has no "split" column')
    if method in ('auto', 'column') and ann.fixed_split is not None:
        return np.asarray(ann.fixed_split, dtype=object)
    if method == 'stratified':
        assign = stratified_patient_split(ann.patient_ids, ann.labels,
                                          ratios=ratios, seed=seed)
    else:
        assign = patient_split(ann.patient_ids, ratios=ratios, seed=seed)
    return np.array([assign[p] for p in ann.patient_ids], dtype=object)


@DATASETS.register_module()
class AxSpADataset(PatientSplitMixin, MedicalMultiLabelDataset):
    """Axial spondyloarthritis sacroiliac MRI slices, 12 labels.

    ER EL SR SL JSR JSL OR OL LR LL BMER BMEL: erosion, sclerosis, joint
    space, osteophyte, lipomatosis and bone marrow edema, each right / left
    (the paper prints "OR/RL"; the left osteophyte label is OL). Every
    slice is a sample with its own labels; patients have several slices and
    are never split across train / val / test. The annotation format is in
    the module docstring and ``docs/datasets.md``.

    Do not add a horizontal flip to this dataset's pipeline: the labels
    are lateral (right / left) and a flip would swap them.

    Args:
        data_root (str): The dataset folder.
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'trainval'`` or
            ``'all'``.
        ann_file (str): The annotation CSV / JSON relative to ``data_root``
            (a ``.json`` with a ``metainfo`` is read as MMPretrain's
            ``MultiLabelDataset`` format, e.g. the converter's output).
            Defaults to ``'annotations.csv'``.
        split_method (str): ``'auto'``, ``'column'``, ``'patient'`` or
            ``'stratified'`` (see :func:`axspa_split`).
        split_ratios, split_seed: The patient-level split.
        check_files (bool): Check up front that every slice image of the
            split exists (local files). Defaults to True.
        ignore_columns (Sequence[str]): Extra columns to accept and ignore.
        **kwargs: Other :class:`MultiLabelDataset` arguments.
    """
    METAINFO = dict(
        classes=AXSPA_CLASSES,
        head_classes=AXSPA_HEAD,
        tail_classes=AXSPA_TAIL,
        prompt_names=AXSPA_PROMPT_NAMES)
    RAW_JSON = True

    def __init__(self,
                 data_root: str = '',
                 split: Optional[str] = None,
                 ann_file: str = 'annotations.csv',
                 split_method: str = 'auto',
                 check_files: bool = True,
                 ignore_columns: Sequence[str] = (),
                 **kwargs):
        if split_method not in SPLIT_METHODS:
            raise ValueError(f'split_method must be one of {SPLIT_METHODS}, '
                             f'got {split_method!r}')
        self.split_method = split_method
        self.check_files = check_files
        self.ignore_columns = tuple(ignore_columns)
        super().__init__(
            ann_file=ann_file, split=split, data_root=data_root, **kwargs)

    def load_raw(self) -> List[dict]:
        ann = read_axspa_annotations(self.ann_file, self.ignore_columns)
        splits = axspa_split(ann, self.split_method, self.split_ratios,
                             self.split_seed)
        keep = np.flatnonzero(np.isin(splits, wanted_splits(self.split)))
        out = []
        missing = []
        for i in keep:
            path = join_path(self.image_root, ann.img_paths[i])
            if self.check_files and not osp.isfile(path):
                missing.append(f'{path} ({ann.rows[i]})')
            info = dict(img_path=path,
                        gt_label=np.flatnonzero(ann.labels[i]).tolist(),
                        patient_id=ann.patient_ids[i])
            if ann.slice_index[i] is not None:
                info['slice_index'] = ann.slice_index[i]
            out.append(info)
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} slice images of split "{self.split}" do not '
                f'exist. First: {missing[:5]}')
        return out
