"""NIH ChestX-ray14: metadata reader, splits and the dataset class."""
import csv
import difflib
import gzip
import io
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmpretrain.registry import DATASETS

from .base import (AnnotationError, MedicalMultiLabelDataset,
                   PatientSplitMixin, check_patient_value, find_images,
                   join_path)
from .splits import DEFAULT_RATIOS, patient_split, wanted_splits

#: Canonical class order (CheXNet, MedMNIST, the NIH paper).
NIH_CLASSES = ('Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltration',
               'Mass', 'Nodule', 'Pneumonia', 'Pneumothorax', 'Consolidation',
               'Edema', 'Emphysema', 'Fibrosis', 'Pleural_Thickening',
               'Hernia')
#: The paper's head classes (Sec. 4.1); the others are tail classes.
NIH_HEAD = ('Pneumothorax', 'Infiltration', 'Atelectasis', 'Emphysema',
            'Edema', 'Effusion', 'Pneumonia')
NIH_TAIL = tuple(c for c in NIH_CLASSES if c not in NIH_HEAD)
NIH_NO_FINDING = 'No Finding'
#: Metadata file names, in the order they are looked for.
NIH_ANN_FILES = ('Data_Entry_2017_v2020.csv', 'Data_Entry_2017_v2020.csv.gz',
                 'Data_Entry_2017.csv', 'Data_Entry_2017.csv.gz')
#: Where users unpack images_001.tar.gz ... images_012.tar.gz.
NIH_IMAGE_DIRS = ('images_*/images', 'images_*', 'images', '.')
NIH_SPLIT_LISTS = ('train_val_list.txt', 'test_list.txt')
_REQUIRED = ('Image Index', 'Finding Labels', 'Patient ID')


def open_text(path: str):
    """Open a text file, transparently gunzipping ``*.gz``."""
    if path.endswith('.gz'):
        return io.TextIOWrapper(
            gzip.open(path, 'rb'), encoding='utf-8-sig', newline='')
    return open(path, encoding='utf-8-sig', newline='')


@dataclass
class NIHMetadata:
    """The parsed ``Data_Entry_2017*.csv``.

    Attributes:
        path (str): The file.
        layout (str): ``'v2020'`` or ``'2017'`` (trailing empty column).
        names (list[str]): Image file names (N,).
        labels (np.ndarray): (N, 14) uint8 multi-hot, canonical order;
            'No Finding' is all zeros.
        label_lists (list[list[int]]): (N,) the same as class indices.
        patient_ids (list[str]): (N,) patient ids (``'1'``, not ``'00001'``).
        lines (list[int]): (N,) line numbers in the file (header = 1).
    """
    path: str
    layout: str
    names: List[str] = field(default_factory=list)
    labels: np.ndarray = None
    label_lists: List[List[int]] = field(default_factory=list)
    patient_ids: List[str] = field(default_factory=list)
    lines: List[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def _norm_pid(value: str) -> str:
    value = value.strip()
    return str(int(value)) if value.isdigit() else value


def parse_findings(cell: str) -> tuple:
    """Class indices of a ``Finding Labels`` cell (``'A|B'``).

    Raises:
        ValueError: An empty, unknown or repeated finding, or 'No Finding'
            combined with findings.
    """
    findings = [x.strip() for x in cell.split('|')]
    if findings == [NIH_NO_FINDING]:
        return ()
    out = []
    for x in findings:
        if x == NIH_NO_FINDING:
            msg = f"'No Finding' combined with findings in \"{cell}\""
        elif not x:
            msg = f'empty finding in "{cell}"'
        elif x not in NIH_CLASSES:
            hint = difflib.get_close_matches(
                x, list(NIH_CLASSES) + [NIH_NO_FINDING], n=1)
            msg = f'unknown finding "{x}"' + (
                f' (did you mean "{hint[0]}"?)' if hint else '')
        else:
            out.append(NIH_CLASSES.index(x))
            continue
        raise ValueError(f'{msg}; known: {list(NIH_CLASSES)} or '
                         f'"{NIH_NO_FINDING}"')
    if len(set(out)) != len(out):
        raise ValueError(f'a finding is repeated in "{cell}"')
    return tuple(sorted(out))


def read_nih_metadata(path: str) -> NIHMetadata:
    """Read ``Data_Entry_2017_v2020.csv`` or ``Data_Entry_2017.csv`` (.gz).

    Columns are found by header name with the csv module, so both layouts
    work: v2020 (11 fields; the bracketed names ``OriginalImage[Width,
    Height]`` contain commas and so span two fields) and 2017 (the same plus
    a trailing empty column; ages like ``058Y`` in early copies).

    Raises:
        AnnotationError: A missing column, a row with the wrong number of
            fields, an empty or unknown finding, 'No Finding' combined with
            a finding, a duplicate image, or a patient whose gender differs
            between rows. The message names the file line.
    """
    with open_text(path) as f:
        reader = csv.reader(f)
        header = _read_nih_header(reader, path)
        c_img, c_lab, c_pid, c_sex = _nih_columns(header)
        need = max(c_img, c_lab, c_pid, c_sex or 0) + 1
        names, pids, lines, rows = [], [], [], []
        first_line: Dict[str, int] = {}
        sex_of: Dict[tuple, tuple] = {}
        parsed: Dict[str, tuple] = {}  # 'Finding Labels' cell -> indices
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            _check_row_width(row, header, need, path, line)
            name = row[c_img].strip()
            if name in first_line:
                raise AnnotationError(
                    f'"{path}" line {line}: image "{name}" is listed twice '
                    f'(first on line {first_line[name]})')
            first_line[name] = line
            pid = _norm_pid(row[c_pid])
            if not pid:
                raise AnnotationError(
                    f'"{path}" line {line}: empty Patient ID for "{name}"')
            if c_sex is not None:
                check_patient_value(sex_of, pid, 'Patient Gender',
                                    row[c_sex].strip(), f'"{path}" line '
                                    f'{line}', f'line {line}')
            names.append(name)
            pids.append(pid)
            lines.append(line)
            rows.append(_cell_findings(parsed, row[c_lab], path, line, name))
    return NIHMetadata(path=path,
                       layout='2017' if header[-1] == '' else 'v2020',
                       names=names, labels=_label_matrix(rows),
                       label_lists=[list(r) for r in rows],
                       patient_ids=pids, lines=lines)


def _read_nih_header(reader, path: str) -> List[str]:
    """The stripped header row; refuse an empty file or missing columns."""
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise AnnotationError(f'"{path}" is empty') from None
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise AnnotationError(
            f'"{path}" is not an NIH ChestX-ray14 Data_Entry file: '
            f'columns {missing} are missing from the header {header}')
    return header


def _nih_columns(header: List[str]) -> tuple:
    """Indices of image, labels, patient id and (or None) gender columns."""
    c_img, c_lab, c_pid = (header.index(c) for c in _REQUIRED)
    c_sex = header.index('Patient Gender') \
        if 'Patient Gender' in header else None
    return c_img, c_lab, c_pid, c_sex


def _check_row_width(row: List[str], header: List[str], need: int,
                     path: str, line: int) -> None:
    """Refuse a damaged (short or long) line."""
    width = len(header)
    # every field of the header: a short row is a damaged line (a
    # file cut off mid-row loses data silently otherwise); the 2017
    # layout's trailing empty column may be absent
    short_ok = width - 1 if header[-1] == '' else width
    if len(row) < max(need, short_ok) or len(row) > width:
        raise AnnotationError(
            f'"{path}" line {line}: {len(row)} fields, the header '
            f'has {width}: {row}')


def _cell_findings(parsed: Dict[str, tuple], cell: str, path: str,
                   line: int, name: str) -> tuple:
    """Class indices of a 'Finding Labels' cell, memoised in ``parsed``."""
    labels = parsed.get(cell)
    if labels is None:
        try:
            labels = parsed[cell] = parse_findings(cell)
        except ValueError as e:
            raise AnnotationError(
                f'"{path}" line {line} ({name}): {e}') from None
    return labels


def _label_matrix(rows: List[tuple]) -> np.ndarray:
    """(N, 14) uint8 multi-hot matrix of per-row class index tuples."""
    labels = np.zeros((len(rows), len(NIH_CLASSES)), dtype=np.uint8)
    lens = np.fromiter((len(r) for r in rows), dtype=np.int64,
                       count=len(rows))
    labels[np.repeat(np.arange(len(rows)), lens),
           np.fromiter((c for r in rows for c in r), dtype=np.int64,
                       count=int(lens.sum()))] = 1
    return labels


def read_name_list(path: str) -> List[str]:
    """Image names of an official split list (one per line)."""
    names, seen = [], {}
    with open_text(path) as f:
        for n, line in enumerate(f, 1):
            name = line.strip()
            if not name:
                continue
            if name in seen:
                raise AnnotationError(
                    f'"{path}" line {n}: "{name}" is listed twice (first on '
                    f'line {seen[name]})')
            seen[name] = n
            names.append(name)
    return names


def _official_parts(meta: NIHMetadata,
                    list_files: Sequence[str]) -> np.ndarray:
    """(N,) ``'trainval'``/``'test'`` per image from the two official lists.

    Raises:
        AnnotationError: A listed image not in the metadata, an image in
            both lists or in neither.
    """
    row_of = {n: i for i, n in enumerate(meta.names)}
    out = np.full(len(meta), None, dtype=object)
    for list_file, part in zip(list_files, ('trainval', 'test')):
        for name in read_name_list(list_file):
            i = row_of.get(name)
            if i is None:
                raise AnnotationError(
                    f'"{list_file}" lists "{name}", which is not in '
                    f'"{meta.path}"')
            if out[i] is not None:
                raise AnnotationError(
                    f'"{name}" is in both "{list_files[0]}" and '
                    f'"{list_files[1]}"')
            out[i] = part
    unlisted = np.flatnonzero(out == None)  # noqa: E711
    if unlisted.size:
        i = unlisted[0]
        raise AnnotationError(
            f'"{meta.path}" line {meta.lines[i]}: "{meta.names[i]}" is in '
            f'neither official list ({unlisted.size} such images)')
    return out


def nih_split(meta: NIHMetadata,
              method: str = 'patient',
              ratios: Sequence[float] = DEFAULT_RATIOS,
              seed: int = 0,
              list_files: Optional[Sequence[str]] = None) -> np.ndarray:
    """Split name (``'train'``, ``'val'``, ``'test'``) of every image.

    Args:
        meta (NIHMetadata): The metadata.
        method (str): ``'patient'``: seeded patient-level split of all
            images by ``ratios`` (the paper's 7:1:2). ``'official'``: the
            official ``train_val_list.txt`` / ``test_list.txt`` (86,524 /
            25,596 images), with a seeded patient-level validation part
            carved out of train_val in the ratio ``ratios[1] : ratios[0]``
            (1/8 for 7:1:2).
        ratios (Sequence[float]): (train, val, test) shares.
        seed (int): Split seed.
        list_files (Sequence[str], optional): The two official lists
            (``method='official'``).

    Returns:
        np.ndarray: (N,) object array of split names.
    """
    pids = np.asarray(meta.patient_ids, dtype=object)
    if method == 'patient':
        assign = patient_split(meta.patient_ids, ratios=ratios, seed=seed)
        return np.array([assign[p] for p in meta.patient_ids], dtype=object)
    if method != 'official':
        raise ValueError(f"split_method must be 'patient' or 'official', "
                         f'got {method!r}')
    if not list_files or len(list_files) != 2:
        raise ValueError('split_method="official" needs the two list files '
                         '(train_val_list.txt, test_list.txt)')
    out = _official_parts(meta, list_files)
    both = set(pids[out == 'trainval']) & set(pids[out == 'test'])
    if both:
        raise AnnotationError(
            f'patients {sorted(both)[:5]} have images in both official lists '
            '(not a patient-level split)')
    tv = np.flatnonzero(out == 'trainval')
    assign = patient_split(
        pids[tv].tolist(), ratios=(ratios[0], ratios[1]), seed=seed,
        names=('train', 'val'))
    out[tv] = [assign[p] for p in pids[tv]]
    return out


@DATASETS.register_module()
class NIHChestXray14(PatientSplitMixin, MedicalMultiLabelDataset):
    """NIH ChestX-ray14 (112,120 frontal chest X-rays, 14 findings).

    Reads the official ``Data_Entry_2017_v2020.csv`` or
    ``Data_Entry_2017.csv`` (either layout, optionally gzipped) and the
    images as users unpack them (``images_001/images/*.png`` ... or one
    ``images/`` folder); or a ``.json`` made by
    ``tools/dataset_converters/nih_chestxray14.py``. Labels are the 14
    findings in canonical order; 'No Finding' is the all-zero vector.

    Args:
        data_root (str): The dataset folder.
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'trainval'`` or
            ``'all'``.
        ann_file (str, optional): Metadata file relative to ``data_root``;
            by default the first of :data:`NIH_ANN_FILES` that exists.
        split_method (str): ``'patient'`` (default, the paper's seeded
            patient-level 7:1:2 split) or ``'official'`` (official
            train_val/test lists, validation carved out of train_val by
            patient). See :func:`nih_split`.
        split_ratios (Sequence[float]): (train, val, test) shares.
        split_seed (int): Split seed; the converter with the same seed
            writes the same split.
        split_lists (Sequence[str]): The official lists, relative to
            ``data_root``.
        img_dir (str, optional): Folder of the images relative to
            ``data_root``. ``None`` (default) searches
            :data:`NIH_IMAGE_DIRS` and checks up front that every image of
            the split exists; a string skips the search and the check
            (remote storage).
        **kwargs: Other :class:`MultiLabelDataset` arguments
            (``pipeline``, ``data_prefix``, ``test_mode`` ...).
    """
    METAINFO = dict(
        classes=NIH_CLASSES,
        head_classes=NIH_HEAD,
        tail_classes=NIH_TAIL,
        prompt_names=tuple(c.replace('_', ' ') for c in NIH_CLASSES))
    ANN_FILES = NIH_ANN_FILES
    ANN_FILE_KIND = 'NIH metadata file'

    def __init__(self,
                 data_root: str = '',
                 split: Optional[str] = None,
                 ann_file: Optional[str] = None,
                 split_method: str = 'patient',
                 split_lists: Sequence[str] = NIH_SPLIT_LISTS,
                 img_dir: Optional[str] = None,
                 **kwargs):
        if split_method not in ('patient', 'official'):
            raise ValueError(f"split_method must be 'patient' or "
                             f"'official', got {split_method!r}")
        self.split_method = split_method
        self.split_lists = tuple(split_lists)
        self.img_dir = img_dir
        super().__init__(
            ann_file=ann_file, split=split, data_root=data_root, **kwargs)

    def load_raw(self) -> List[dict]:
        meta = read_nih_metadata(self.ann_file)
        lists = [join_path(self.data_root, p) for p in self.split_lists]
        splits = nih_split(meta, self.split_method, self.split_ratios,
                           self.split_seed, lists)
        keep = np.flatnonzero(np.isin(splits, wanted_splits(self.split)))
        names = [meta.names[i] for i in keep]
        paths = find_images(self.image_root, names, self.img_dir,
                            NIH_IMAGE_DIRS,
                            f'split "{self.split}" of "{self.ann_file}"')
        return [
            dict(img_path=p, gt_label=list(meta.label_lists[i]),
                 patient_id=meta.patient_ids[i])
            for p, i in zip(paths, keep)
        ]
