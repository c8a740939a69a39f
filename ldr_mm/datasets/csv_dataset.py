"""A multi-label dataset from any CSV table (one row per image).

Columns are found by header name (order does not matter):

* the image path (``path_column``, default ``img_path``), relative to
  ``data_root``; a DICOM or NIfTI file is fine (``slice_index`` /
  ``slice_axis`` columns select the frame / slice);
* either one column per class (named as the class; ``1``, ``0``, ``-1``
  uncertain, blank = ``0``) or one ``labels_column`` with the present
  class names joined by ``label_sep`` (empty = no label);
* optional ``patient_column`` (the patient-level split never puts a
  patient in two splits) and ``split_column`` (``train``/``val``/``test``).

Other columns are ignored.
"""
import csv
from typing import List, Optional, Sequence

import mmengine
from mmpretrain.registry import DATASETS

from .base import (AnnotationError, MedicalMultiLabelDataset,
                   PatientSplitMixin)
from .nih import open_text
from .splits import SPLITS, assign_splits, wanted_splits
from .uncertain import (LabelMaskMixin, apply_policy, finish_samples,
                        missing_columns, parse_label_row)

_SLICE_COLUMNS = ('slice_index', 'slice_axis')


def _names_to_values(cell: str, classes: Sequence[str], sep: str,
                     where: str) -> List[int]:
    names = [n.strip() for n in (cell or '').split(sep)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise AnnotationError(f'{where}: unknown label(s) {unknown}; the '
                              f'classes are {list(classes)}')
    if len(set(names)) != len(names):
        raise AnnotationError(f'{where}: repeated label in {names}')
    return [int(c in names) for c in classes]


def _int_cell(rec: dict, col: str, where: str) -> Optional[int]:
    v = (rec.get(col) or '').strip()
    if v == '':
        return None
    try:
        return int(v)
    except ValueError:
        raise AnnotationError(f'{where}: {col} {v!r} is not an integer') \
            from None


@DATASETS.register_module()
class MultiLabelCSVDataset(LabelMaskMixin, PatientSplitMixin,
                           MedicalMultiLabelDataset):
    """Any multi-label CSV table: path, labels, optional patient and split.

    See the module docstring for the table format (a ``.json`` list of
    objects with the same keys is read too) and ``docs/datasets.md``
    for examples. ``classes`` (and optionally ``head_classes``,
    ``tail_classes``, ``prompt_names``) come from ``metainfo`` or
    ``classes=``, as in MMPretrain.

    Args:
        data_root (str): Folder the image paths are relative to.
        ann_file (str): The CSV (``.csv`` / ``.csv.gz``) relative to
            ``data_root``; a ``.json`` list of objects with the same keys
            (or ``{"data_list": [...]}``); or a MultiLabelDataset ``.json``
            (with ``metainfo``, one file per split).
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'trainval'``,
            ``'all'``.
        path_column (str): Image path column. Defaults to ``'img_path'``.
        labels_column (str, optional): One column of delimited class names
            instead of one column per class.
        label_sep (str): Separator of ``labels_column``. Defaults to ``|``.
        patient_column (str, optional): Patient id column; without it every
            row is its own patient.
        split_column (str, optional): Fixed split column; without it a
            seeded patient-level ``split_ratios`` split is made.
        uncertain (str): ``'ones'``, ``'zeros'`` (default) or ``'ignore'``
            for ``-1`` cells.
        split_ratios, split_seed: The patient-level split.
        split_stratify (bool): Stratify the split by the labels
            (:func:`~ldr_mm.datasets.splits.stratified_patient_split`: every
            class with at least 3 patients has positives in train, val and
            test). False: the unstratified :func:`~ldr_mm.datasets.splits.
            patient_split`. Defaults to True.
        num_folds (int, optional): k-fold cross-validation: the test split
            is made as above (``split_ratios[2]``, none if 0), the other
            patients are split into ``num_folds`` folds (stratified alike);
            ``'val'`` is fold ``fold`` and ``'train'`` the other folds.
        fold (int): The validation fold, ``0..num_folds-1``.
        check_files (bool): Check that the split's images exist.
        **kwargs: Other :class:`MultiLabelDataset` arguments (``classes``,
            ``metainfo``, ``pipeline``, ...).
    """
    RAW_JSON = True

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 split: Optional[str] = None,
                 path_column: str = 'img_path',
                 labels_column: Optional[str] = None,
                 label_sep: str = '|',
                 patient_column: Optional[str] = None,
                 split_column: Optional[str] = None,
                 split_stratify: bool = True,
                 num_folds: Optional[int] = None,
                 fold: int = 0,
                 check_files: bool = True,
                 **kwargs):
        self.path_column = path_column
        self.labels_column = labels_column
        self.label_sep = label_sep
        self.patient_column = patient_column
        self.split_column = split_column
        self.split_stratify = split_stratify
        self.num_folds = num_folds
        self.fold = fold
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file, split=split, data_root=data_root, **kwargs)

    def _row(self, rec: dict, where: str, classes: Sequence[str]) -> dict:
        img = (rec.get(self.path_column) or '').strip()
        if not img:
            raise AnnotationError(f'{where}: empty {self.path_column}')
        if self.labels_column is not None:
            values = _names_to_values(rec.get(self.labels_column), classes,
                                      self.label_sep, where)
        else:
            values = parse_label_row(rec, classes, where)
        labels, mask = apply_policy(values, self.uncertain)
        info = dict(img_path=img, gt_label=labels)
        if mask is not None:
            info['gt_mask'] = mask
        for col in _SLICE_COLUMNS:
            v = _int_cell(rec, col, where)
            if v is not None:
                info[col] = v
        if self.patient_column is not None:
            info['patient_id'] = (rec.get(self.patient_column) or '').strip()
            if not info['patient_id']:
                raise AnnotationError(
                    f'{where}: empty {self.patient_column}')
        if self.split_column is not None:
            s = (rec.get(self.split_column) or '').strip()
            if s not in SPLITS:
                raise AnnotationError(f'{where}: {self.split_column} "{s}" '
                                      f'is not one of {list(SPLITS)}')
            info['split'] = s
        return info

    def read_table(self) -> List[dict]:
        """All rows of the CSV as samples (with ``split`` if a column)."""
        classes = list(self._metainfo.get('classes') or [])
        if not classes:
            raise ValueError('MultiLabelCSVDataset needs the class names: '
                             'classes=[...] or metainfo=dict(classes=...)')
        need = [self.path_column] + (
            [self.labels_column] if self.labels_column else classes) + [
                c for c in (self.patient_column, self.split_column) if c]
        out, seen = [], {}
        for line, rec in self._records(need):
            where = f'"{self.ann_file}" {line}'
            info = self._row(rec, where, classes)
            key = (info['img_path'], info.get('slice_axis'),
                   info.get('slice_index'))
            if key in seen:
                raise AnnotationError(f'{where}: image {key[0]} (slice '
                                      f'{key[2]}) is already at {seen[key]}')
            seen[key] = line
            info.setdefault('patient_id', f'row{line.split()[-1]}')
            out.append(info)
        return out

    def _records(self, need: Sequence[str]):
        """(``'line N'`` / ``'record i'``, row dict) of the CSV, or of a
        JSON list of objects with the same keys (``labels_column`` may hold
        a list of class names)."""
        if not self.ann_file.lower().endswith('.json'):
            with open_text(self.ann_file) as f:
                reader = csv.DictReader(f)
                missing_columns(reader.fieldnames, need, self.ann_file)
                for rec in reader:
                    yield f'line {reader.line_num}', rec
            return
        data = mmengine.load(self.ann_file)
        data = data.get('data_list') if isinstance(data, dict) else data
        if not isinstance(data, list):
            raise AnnotationError(f'"{self.ann_file}" must hold a list of '
                                  'image objects or {"data_list": [...]}')
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise AnnotationError(
                    f'"{self.ann_file}" record {i} is not an object')
            lack = [c for c in need if c not in rec]
            if lack:
                raise AnnotationError(f'"{self.ann_file}" record {i} lacks '
                                      f'the key(s) {lack}')
            rec = {k: self.label_sep.join(v) if isinstance(v, list) else
                   (None if v is None else str(v)) for k, v in rec.items()}
            yield f'record {i}', rec

    def load_raw(self) -> List[dict]:
        rows = self.read_table()
        if self.split_column is None:
            assign = assign_splits(
                rows, len(self._metainfo['classes']), self.split_ratios,
                self.split_seed, self.split_stratify, self.num_folds,
                self.fold)
            for d in rows:
                d['split'] = assign[d['patient_id']]
        else:
            first = {}
            for d in rows:
                s = first.setdefault(d['patient_id'], d['split'])
                if s != d['split']:
                    raise AnnotationError(
                        f'"{self.ann_file}": patient {d["patient_id"]} is in '
                        f'both the "{s}" and the "{d["split"]}" split')
        keep = wanted_splits(self.split)
        out = [d for d in rows if d.pop('split') in keep]
        return finish_samples(out, self.image_root, self.check_files,
                              f'"{self.ann_file}" split "{self.split}"')
