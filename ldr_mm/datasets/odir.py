"""ODIR-5K: the official annotation workbook, splits and the dataset."""
import csv
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmpretrain.registry import DATASETS

from .base import (AnnotationError, MedicalMultiLabelDataset,
                   PatientSplitMixin, find_images)
from .splits import DEFAULT_RATIOS, patient_split, wanted_splits

ODIR_CLASSES = ('N', 'D', 'G', 'C', 'A', 'H', 'M', 'O')
#: Words for the CLIP prompt (the letters alone carry no meaning).
ODIR_PROMPT_NAMES = ('normal', 'diabetes', 'glaucoma', 'cataract',
                     'age-related macular degeneration', 'hypertension',
                     'myopia', 'other diseases')
ODIR_HEAD = ('N', 'D', 'O')
ODIR_TAIL = ('G', 'C', 'A', 'H', 'M')
#: Per-patient merge of the eyes' scores that differs from ``max`` (read
#: by the metrics from the metainfo): a patient is normal only if both eyes
#: are, so N takes the minimum; a disease in either eye is the patient's.
ODIR_CLASS_AGGREGATE = {'N': 'min'}
ODIR_ANN_FILES = ('ODIR-5K_Training_Annotations(Updated)_V2.xlsx',
                  'ODIR-5K_Training_Annotations(Updated).xlsx',
                  'ODIR-5K/data.xlsx', 'data.xlsx')
#: Where users unpack the training images (official zip, Kaggle copy).
ODIR_IMAGE_DIRS = ('ODIR-5K_Training_Dataset', 'ODIR-5K_Training_Images',
                   'ODIR-5K/Training Images',
                   'ODIR-5K/ODIR-5K/Training Images', 'Training Images',
                   'images', '.')
#: Keywords saying an image is not a fundus photograph at all: such eye
#: images are left out in ``mode='eye'`` (3 of 7,000 images; no patient
#: loses both eyes). Quality remarks ("lens dust", "low image quality",
#: "image offset", "optic disk photographically invisible") are kept: the
#: patient labels were given with them.
ODIR_NON_FUNDUS = ('no fundus image', 'anterior segment image')
_COLUMNS = ('ID', 'Patient Age', 'Patient Sex', 'Left-Fundus', 'Right-Fundus',
            'Left-Diagnostic Keywords', 'Right-Diagnostic Keywords')
_KEYWORD_SEP = re.compile('[,\uff0c]')  # ASCII and full-width commas


def split_keywords(cell) -> List[str]:
    """Diagnostic keywords of one eye (full-width or ASCII commas)."""
    if cell is None:
        return []
    return [k.strip() for k in _KEYWORD_SEP.split(str(cell)) if k.strip()]


@dataclass
class ODIRPatient:
    """One row of the ODIR-5K workbook (one patient, two eyes)."""
    patient_id: str
    row: int  # spreadsheet row number (header = 1)
    age: Optional[int]
    sex: str
    left: str  # image file names
    right: str
    left_keywords: List[str]
    right_keywords: List[str]
    labels: np.ndarray  # (8,) uint8


def _norm_id(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = str(value).strip() if value is not None else ''
    return str(int(s)) if s.isdigit() else s


def _header_cells(row) -> List[str]:
    return [str(h).strip() if h is not None else '' for h in row or ()]


def _read_sheet(path: str) -> Tuple[tuple, List[Tuple[int, tuple]]]:
    """Header and rows of the worksheet that holds the ODIR table.

    The first sheet whose first row has the ``ID`` and label columns is
    used (saved copies sometimes put a notes or pivot sheet first); if none
    has them, the first non-empty sheet (whose missing columns the caller
    then names).

    Raises:
        AnnotationError: Every sheet is empty, or the data sheet has a
            header but no rows (naming the sheets).
    """
    import openpyxl  # optional dependency: only for the xlsx
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        found, titles = None, []
        for ws in wb.worksheets:
            titles.append(ws.title)
            rows = ws.iter_rows(values_only=True)
            header = next(rows, None)
            cells = _header_cells(header)
            if not any(cells):
                continue
            is_odir = 'ID' in cells and set(ODIR_CLASSES) <= set(cells)
            if is_odir or found is None:
                found = (ws.title, header, [(n, r)
                                            for n, r in enumerate(rows, 2)])
            if is_odir:
                break
    finally:
        wb.close()
    if found is None:
        raise AnnotationError(
            f'"{path}": every worksheet is empty (sheets: {titles}); expected '
            'the ODIR-5K table with its header in the first row')
    title, header, body = found
    if not any(any(v not in (None, '') for v in r) for _, r in body):
        raise AnnotationError(
            f'"{path}": worksheet "{title}" has a header but no patient rows '
            f'(sheets: {titles}); use the official training workbook')
    return header, body


def _read_rows(path: str) -> Tuple[List[str], List[Tuple[int, tuple]]]:
    if path.lower().endswith(('.xlsx', '.xlsm')):
        header, body = _read_sheet(path)
    else:
        with open(path, encoding='utf-8-sig', newline='') as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise AnnotationError(f'"{path}" is empty')
            body = [(reader.line_num, tuple(r)) for r in reader]
    return _header_cells(header), body


def _check_header(header: List[str], path: str) -> None:
    """Every ODIR-5K column (patient columns and the 8 labels) is present."""
    missing = [c for c in _COLUMNS + ODIR_CLASSES if c not in header]
    if missing:
        extra = [h for h in header if h and h not in _COLUMNS + ODIR_CLASSES]
        raise AnnotationError(
            f'"{path}": columns {missing} are missing (unknown columns: '
            f'{extra}); expected the ODIR-5K header {list(_COLUMNS)} + label '
            f'columns {list(ODIR_CLASSES)}')


def _row_labels(r: tuple, col: Dict[str, int], where: str,
                pid: str) -> np.ndarray:
    """(8,) uint8 patient labels: 0/1 cells, at least one, N alone."""
    labels = np.zeros(len(ODIR_CLASSES), dtype=np.uint8)
    for k, c in enumerate(ODIR_CLASSES):
        v = r[col[c]]
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = None
        if f not in (0.0, 1.0):
            raise AnnotationError(
                f'{where} (patient {pid}): label column {c} is {v!r}, '
                'expected 0 or 1')
        labels[k] = int(f)
    if labels.sum() == 0:
        raise AnnotationError(
            f'{where} (patient {pid}): no label set in '
            f'{list(ODIR_CLASSES)}')
    if labels[0] and labels[1:].any():
        raise AnnotationError(
            f'{where} (patient {pid}): N (normal) together with '
            f'{[c for c, v in zip(ODIR_CLASSES, labels) if v][1:]}')
    return labels


def _fundus_image(cell, column: str, where: str, pid: str, row_no: int,
                  seen_img: Dict[str, int]) -> str:
    """A non-empty fundus file name not used on another row."""
    name = str(cell or '').strip()
    if not name:
        raise AnnotationError(f'{where} (patient {pid}): empty {column}')
    if name in seen_img:
        raise AnnotationError(
            f'{where} (patient {pid}): image "{name}" already on '
            f'row {seen_img[name]}')
    seen_img[name] = row_no
    return name


def _row_age(age, where: str, pid: str) -> Optional[int]:
    """Integer age of a 'Patient Age' cell (None when empty)."""
    try:
        return int(float(age)) if age not in (None, '') else None
    except ValueError:
        raise AnnotationError(
            f'{where} (patient {pid}): Patient Age {age!r} is not a '
            'number') from None


def read_odir_annotations(path: str) -> List[ODIRPatient]:
    """Read the ODIR-5K training workbook (xlsx) or the same table as CSV.

    Raises:
        AnnotationError: A missing column, a label cell that is not 0/1, a
            patient with no label or with 'N' plus a disease, a duplicate
            patient ID or image file (conflicting patient rows). The
            message names the row.
    """
    header, body = _read_rows(path)
    _check_header(header, path)
    col = {h: i for i, h in enumerate(header) if h}
    patients: List[ODIRPatient] = []
    seen_id: Dict[str, int] = {}
    seen_img: Dict[str, int] = {}
    for row_no, r in body:
        if all(v is None or str(v).strip() == '' for v in r):
            continue
        r = tuple(r) + (None, ) * (len(header) - len(r))
        where = f'"{path}" row {row_no}'
        pid = _norm_id(r[col['ID']])
        if not pid:
            raise AnnotationError(f'{where}: empty ID')
        if pid in seen_id:
            raise AnnotationError(
                f'{where}: patient ID {pid} already on row {seen_id[pid]} '
                '(one row per patient; conflicting patient rows)')
        seen_id[pid] = row_no
        labels = _row_labels(r, col, where, pid)
        images = [_fundus_image(r[col[c]], c, where, pid, row_no, seen_img)
                  for c in ('Left-Fundus', 'Right-Fundus')]
        age = _row_age(r[col['Patient Age']], where, pid)
        patients.append(
            ODIRPatient(
                patient_id=pid,
                row=row_no,
                age=age,
                sex=str(r[col['Patient Sex']] or '').strip(),
                left=images[0],
                right=images[1],
                left_keywords=split_keywords(
                    r[col['Left-Diagnostic Keywords']]),
                right_keywords=split_keywords(
                    r[col['Right-Diagnostic Keywords']]),
                labels=labels))
    if not patients:
        raise AnnotationError(f'"{path}" has no patient rows')
    return patients


def odir_split(patients: Sequence[ODIRPatient],
               ratios: Sequence[float] = DEFAULT_RATIOS,
               seed: int = 0) -> Dict[str, str]:
    """Seeded patient-level split ``{patient_id: split}``.

    Every patient has two images, so the split is 7:1:2 by patients and by
    images alike, and the same in ``mode='eye'`` and ``mode='patient'``.
    """
    return patient_split([p.patient_id for p in patients], ratios=ratios,
                         seed=seed)


def odir_samples(patients: Sequence[ODIRPatient],
                 mode: str = 'eye',
                 exclude_keywords: Sequence[str] = ODIR_NON_FUNDUS
                 ) -> List[dict]:
    """Samples (without image folder) of ``patients``.

    ``mode='eye'``: one sample per fundus image with the patient's labels,
    ``eye`` and ``keywords``, minus images whose keywords include one of
    ``exclude_keywords``. ``mode='patient'``: one sample per patient with
    ``img_path = [left, right]``.
    """
    if mode not in ('eye', 'patient'):
        raise ValueError(f"mode must be 'eye' or 'patient', got {mode!r}")
    exclude = {k.lower() for k in exclude_keywords}
    out = []
    for p in patients:
        labels = np.flatnonzero(p.labels).tolist()
        if mode == 'patient':
            out.append(dict(img_path=[p.left, p.right], gt_label=labels,
                            patient_id=p.patient_id,
                            keywords=[p.left_keywords, p.right_keywords]))
            continue
        for eye, name, kws in (('left', p.left, p.left_keywords),
                               ('right', p.right, p.right_keywords)):
            if any(k.lower() in exclude for k in kws):
                continue
            out.append(dict(img_path=name, gt_label=labels,
                            patient_id=p.patient_id, eye=eye, keywords=kws))
    return out


@DATASETS.register_module()
class ODIR5K(PatientSplitMixin, MedicalMultiLabelDataset):
    """ODIR-5K (3,500 patients, two colour fundus images each, 8 labels).

    Labels N D G C A H M O are given per patient (over both eyes). Two ways
    to present a patient to the model (``docs/datasets.md`` discusses them):

    * ``mode='eye'`` (default): every fundus image is a sample carrying its
      patient's labels and ``patient_id``; the evaluation aggregates the
      two eyes' scores per patient (``aggregate_by='patient_id'`` of the
      ldr_mm metrics: max for the diseases, min for N, see
      :data:`ODIR_CLASS_AGGREGATE`) before the official patient-level
      ODIR score. Non-fundus images (:data:`ODIR_NON_FUNDUS`) are dropped.
    * ``mode='patient'``: one sample per patient whose image is the left
      and right fundus side by side (:class:`LoadMedicalImage` accepts the
      list of two paths).

    Args:
        data_root (str): The dataset folder.
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'trainval'`` or
            ``'all'`` (seeded patient-level 7:1:2 split of the training
            workbook; the challenge's own test labels are not public).
        ann_file (str, optional): The workbook (or the same table as CSV)
            relative to ``data_root``; by default the first of
            :data:`ODIR_ANN_FILES` that exists.
        mode (str): ``'eye'`` or ``'patient'``.
        exclude_keywords (Sequence[str]): Eye images with one of these
            keywords are left out (``mode='eye'``).
        split_ratios, split_seed: The patient-level split.
        img_dir (str, optional): Image folder relative to ``data_root``;
            ``None`` searches :data:`ODIR_IMAGE_DIRS` and checks that every
            image exists.
        **kwargs: Other :class:`MultiLabelDataset` arguments.
    """
    METAINFO = dict(
        classes=ODIR_CLASSES,
        head_classes=ODIR_HEAD,
        tail_classes=ODIR_TAIL,
        prompt_names=ODIR_PROMPT_NAMES,
        class_aggregate=ODIR_CLASS_AGGREGATE)
    ANN_FILES = ODIR_ANN_FILES
    ANN_FILE_KIND = 'ODIR-5K annotation workbook'

    def __init__(self,
                 data_root: str = '',
                 split: Optional[str] = None,
                 ann_file: Optional[str] = None,
                 mode: str = 'eye',
                 exclude_keywords: Sequence[str] = ODIR_NON_FUNDUS,
                 img_dir: Optional[str] = None,
                 **kwargs):
        if mode not in ('eye', 'patient'):
            raise ValueError(f"mode must be 'eye' or 'patient', got {mode!r}")
        self.mode = mode
        self.exclude_keywords = tuple(exclude_keywords)
        self.img_dir = img_dir
        super().__init__(
            ann_file=ann_file, split=split, data_root=data_root, **kwargs)

    def load_raw(self) -> List[dict]:
        patients = read_odir_annotations(self.ann_file)
        assign = odir_split(patients, self.split_ratios, self.split_seed)
        wanted = wanted_splits(self.split)
        patients = [p for p in patients if assign[p.patient_id] in wanted]
        samples = odir_samples(patients, self.mode, self.exclude_keywords)
        names = [n for s in samples for n in (
            s['img_path'] if isinstance(s['img_path'], list) else
            [s['img_path']])]
        paths = find_images(self.image_root, names, self.img_dir,
                            ODIR_IMAGE_DIRS,
                            f'split "{self.split}" of "{self.ann_file}"')
        it = iter(paths)
        for s in samples:
            if isinstance(s['img_path'], list):
                s['img_path'] = [next(it) for _ in s['img_path']]
            else:
                s['img_path'] = next(it)
        return samples
