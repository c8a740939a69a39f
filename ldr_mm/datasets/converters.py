"""Write patient-level split annotation files (MMPretrain JSON).

The command-line tools in ``tools/dataset_converters/`` call these. Each
converter reads the dataset's raw metadata with the same checked reader as
the dataset class, makes the seeded patient-level split with the same
function, and writes ``<out_dir>/{train,val,test}.json`` in MMPretrain's
``MultiLabelDataset`` format (readable by ``MultiLabelDataset`` itself and
by the ldr_mm dataset classes), with image paths relative to the dataset
root and the class groups in the metainfo.
"""
import json
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.utils import track_iter_progress

from ldr_mm.utils.fileio import atomic_write
from .axspa import (AXSPA_CLASSES, AxSpADataset, axspa_split,
                    read_axspa_annotations)
from .base import ImageIndex, join_path
from .nih import (NIH_IMAGE_DIRS, NIH_SPLIT_LISTS, NIHChestXray14,
                  nih_split, read_nih_metadata)
from .odir import (ODIR5K, ODIR_CLASSES, ODIR_IMAGE_DIRS, ODIR_NON_FUNDUS,
                   odir_samples, odir_split, read_odir_annotations)
from .splits import DEFAULT_RATIOS, SPLITS, format_split_report

FORMAT_VERSION = 1


@dataclass
class ConversionResult:
    """What a converter wrote and counted.

    Attributes:
        files (dict): ``{split: annotation file}``.
        images (dict): ``{split: number of samples}``.
        patients (dict): ``{split: number of patients}``.
        positives (dict): ``{split: (C,) positive samples per class}``.
        patient_positives (dict): ``{split: (C,) positive patients}``.
        report (str): The printed report.
    """
    files: Dict[str, str] = field(default_factory=dict)
    images: Dict[str, int] = field(default_factory=dict)
    patients: Dict[str, int] = field(default_factory=dict)
    positives: Dict[str, np.ndarray] = field(default_factory=dict)
    patient_positives: Dict[str, np.ndarray] = field(default_factory=dict)
    report: str = ''


def _rel(path: str, root: str) -> str:
    if '://' in path:
        return path
    return osp.relpath(path, root) if root else path


def _matrix(samples: List[dict], C: int) -> np.ndarray:
    """(N, C) uint8 multi-hot labels of ``samples``."""
    lens = np.fromiter((len(s['gt_label']) for s in samples), dtype=np.int64,
                       count=len(samples))
    cols = np.fromiter((c for s in samples for c in s['gt_label']),
                       dtype=np.int64, count=int(lens.sum()))
    m = np.zeros((len(samples), C), dtype=np.uint8)
    m[np.repeat(np.arange(len(samples)), lens), cols] = 1
    return m


def _patient_matrix(samples: List[dict], C: int) -> np.ndarray:
    """(P, C): a patient is positive for a class if any sample is."""
    if not samples:
        return np.zeros((0, C), dtype=np.uint8)
    _, inverse = np.unique([s['patient_id'] for s in samples],
                           return_inverse=True)
    m = np.zeros((int(inverse.max()) + 1, C), dtype=np.uint8)
    np.maximum.at(m, inverse, _matrix(samples, C))
    return m


def write_split_annotations(out_dir: str,
                            samples: Dict[str, List[dict]],
                            metainfo: dict,
                            unit: str = 'images') -> ConversionResult:
    """Write ``<out_dir>/<split>.json`` per split and build the report.

    Args:
        out_dir (str): Output folder (created).
        samples (dict): ``{split: [sample dict, ...]}``; each sample has
            ``img_path`` (relative to the dataset root), ``gt_label`` and
            ``patient_id``.
        metainfo (dict): ``classes``, ``head_classes``, ``tail_classes``
            and anything else to record; ``split`` is added per file.
        unit (str): What a sample is, for the report.
    """
    classes = list(metainfo['classes'])
    C = len(classes)
    pids = {s: {d['patient_id'] for d in samples[s]} for s in samples}
    splits = list(samples)
    for i, a in enumerate(splits):
        for b in splits[i + 1:]:
            both = pids[a] & pids[b]
            if both:  # the split functions guarantee this; never write it
                raise RuntimeError(f'patients {sorted(both)[:5]} in both '
                                   f'{a} and {b}')
    res = ConversionResult()
    mats = {s: _matrix(samples[s], C) for s in splits}
    pmats = {s: _patient_matrix(samples[s], C) for s in splits}
    for s in splits:
        path = osp.join(out_dir, f'{s}.json')
        meta = dict(metainfo, split=s, format_version=FORMAT_VERSION)
        text = json.dumps(dict(metainfo=meta, data_list=samples[s]))
        with atomic_write(path) as f:
            f.write(text)
        res.files[s] = path
        res.images[s] = len(samples[s])
        res.patients[s] = len(pids[s])
        res.positives[s] = mats[s].sum(0).astype(np.int64)
        res.patient_positives[s] = pmats[s].sum(0).astype(np.int64)
    head = list(metainfo.get('head_classes') or [])
    tail = list(metainfo.get('tail_classes') or [])
    parts = [format_split_report(classes, mats, res.patients, head, tail,
                                 unit)]
    if unit != 'patients':
        parts.append(
            format_split_report(classes, pmats, res.patients, head, tail,
                                'patients').split('\n\n')[-1])
    parts.append('written: ' + ', '.join(res.files[s] for s in splits))
    res.report = '\n\n'.join(parts)
    return res


def _split_meta(dataset_cls, **extra) -> dict:
    meta = {k: dict(v) if isinstance(v, dict) else list(v)
            for k, v in dataset_cls.METAINFO.items()}
    meta['dataset'] = dataset_cls.__name__
    meta.update(extra)
    return meta


def convert_nih(data_root: str,
                out_dir: str,
                ann_file: Optional[str] = None,
                split_method: str = 'patient',
                ratios: Sequence[float] = DEFAULT_RATIOS,
                seed: int = 0,
                split_lists: Sequence[str] = NIH_SPLIT_LISTS,
                img_dir: Optional[str] = None,
                progress: bool = False) -> ConversionResult:
    """NIH ChestX-ray14 -> ``train/val/test.json`` (see
    :class:`~ldr_mm.datasets.NIHChestXray14` for the arguments).

    With ``img_dir=None`` the images must be under ``data_root`` (any of
    the usual layouts) and their paths are written as found; a string
    writes ``<img_dir>/<name>`` without looking at the files.
    ``progress``: a progress bar while the image folders are scanned.
    """
    ann_file = ann_file or NIHChestXray14.find_ann_file(data_root)
    meta = read_nih_metadata(join_path(data_root, ann_file))
    splits = nih_split(meta, split_method, ratios, seed,
                       [join_path(data_root, p) for p in split_lists])
    if img_dir is None:
        paths = ImageIndex(data_root, NIH_IMAGE_DIRS,
                           progress=progress).resolve(
            meta.names, f'"{meta.path}"')
        rel = [_rel(p, data_root) for p in paths]
    else:
        rel = [osp.join(img_dir, n) if img_dir else n for n in meta.names]
    samples = {s: [] for s in SPLITS}
    for i, s in enumerate(splits):
        samples[s].append(
            dict(img_path=rel[i], gt_label=meta.label_lists[i],
                 patient_id=meta.patient_ids[i]))
    info = _split_meta(
        NIHChestXray14, source=osp.basename(ann_file),
        source_layout=meta.layout, split_method=split_method,
        split_ratios=list(ratios), split_seed=seed)
    return write_split_annotations(out_dir, samples, info)


def convert_odir(data_root: str,
                 out_dir: str,
                 ann_file: Optional[str] = None,
                 mode: str = 'eye',
                 exclude_keywords: Sequence[str] = ODIR_NON_FUNDUS,
                 ratios: Sequence[float] = DEFAULT_RATIOS,
                 seed: int = 0,
                 img_dir: Optional[str] = None,
                 progress: bool = False) -> ConversionResult:
    """ODIR-5K workbook -> ``train/val/test.json`` (see
    :class:`~ldr_mm.datasets.ODIR5K`).

    ``mode='eye'`` writes one sample per fundus image (readable by
    ``MultiLabelDataset`` too); ``mode='patient'`` one sample per patient
    with ``img_path`` = [left, right] (readable by ``ODIR5K`` only).
    ``progress``: a progress bar while the image folders are scanned.
    """
    ann_file = ann_file or ODIR5K.find_ann_file(data_root)
    patients = read_odir_annotations(join_path(data_root, ann_file))
    assign = odir_split(patients, ratios, seed)
    samples = {s: [] for s in SPLITS}
    all_samples = odir_samples(patients, mode, exclude_keywords)
    names = [n for d in all_samples for n in (
        d['img_path'] if isinstance(d['img_path'], list) else [d['img_path']])]
    if img_dir is None:
        paths = ImageIndex(data_root, ODIR_IMAGE_DIRS,
                           progress=progress).resolve(
            names, f'"{ann_file}"')
        rel = iter([_rel(p, data_root) for p in paths])
    else:
        rel = iter([osp.join(img_dir, n) if img_dir else n for n in names])
    for d in all_samples:
        if isinstance(d['img_path'], list):
            d['img_path'] = [next(rel) for _ in d['img_path']]
        else:
            d['img_path'] = next(rel)
        samples[assign[d['patient_id']]].append(d)
    info = _split_meta(
        ODIR5K, source=osp.basename(ann_file), mode=mode,
        exclude_keywords=list(exclude_keywords), split_method='patient',
        split_ratios=list(ratios), split_seed=seed)
    unit = 'eye images' if mode == 'eye' else 'patients'
    res = write_split_annotations(out_dir, samples, info, unit=unit)
    # Patient counts straight from the workbook rows (no image dropped),
    # to compare with the N..O columns of the xlsx.
    labels = np.stack([p.labels for p in patients])
    split_of = np.array([assign[p.patient_id] for p in patients])
    res.patient_positives = {
        s: labels[split_of == s].sum(0).astype(np.int64)
        for s in SPLITS
    }
    res.patients = {s: int((split_of == s).sum()) for s in SPLITS}
    if mode == 'eye':
        dropped = 2 * len(patients) - len(all_samples)
        res.report = (f'{len(patients)} patients; {dropped} eye images left '
                      f'out for the keywords {list(exclude_keywords)}\n\n'
                      + res.report)
    return res


def convert_axspa(data_root: str,
                  out_dir: str,
                  ann_file: str = 'annotations.csv',
                  split_method: str = 'auto',
                  ratios: Sequence[float] = DEFAULT_RATIOS,
                  seed: int = 0,
                  check_files: bool = True,
                  ignore_columns: Sequence[str] = (),
                  progress: bool = False) -> ConversionResult:
    """AxSpA table -> ``train/val/test.json`` (see
    :class:`~ldr_mm.datasets.AxSpADataset`); ``progress``: a progress bar
    over the per-image check of ``check_files``."""
    ann = read_axspa_annotations(join_path(data_root, ann_file),
                                 ignore_columns)
    splits = axspa_split(ann, split_method, ratios, seed)
    if check_files:
        missing = [
            f'{p} ({w})' for p, w in (track_iter_progress(list(zip(
                ann.img_paths, ann.rows)), file=sys.stdout)
                if progress and ann.img_paths
                else zip(ann.img_paths, ann.rows))
            if not osp.isfile(join_path(data_root, p))
        ]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} slice images do not exist under '
                f'"{data_root}". First: {missing[:5]}')
    samples = {s: [] for s in SPLITS}
    for i, s in enumerate(splits):
        d = dict(img_path=ann.img_paths[i],
                 gt_label=np.flatnonzero(ann.labels[i]).tolist(),
                 patient_id=ann.patient_ids[i])
        if ann.slice_index[i] is not None:
            d['slice_index'] = ann.slice_index[i]
        samples[s].append(d)
    method = 'column' if (split_method in ('auto', 'column')
                          and ann.fixed_split is not None) else (
                              'stratified' if split_method == 'stratified'
                              else 'patient')
    info = _split_meta(
        AxSpADataset, source=osp.basename(ann_file), split_method=method,
        split_ratios=list(ratios), split_seed=seed)
    return write_split_annotations(out_dir, samples, info, unit='slices')


def add_split_args(parser) -> None:
    """The converter tools' ``--ratios TRAIN VAL TEST`` and ``--seed``."""
    parser.add_argument('--ratios', type=float, nargs=3,
                        default=list(DEFAULT_RATIOS),
                        metavar=('TRAIN', 'VAL', 'TEST'))
    parser.add_argument('--seed', type=int, default=0)


def run_converter(convert, data_root: str, out_dir: Optional[str], *args,
                  **kwargs) -> ConversionResult:
    """Run a converter tool: ``convert(data_root, out_dir, *args,
    **kwargs)``.

    ``out_dir`` defaults to ``DATA_ROOT/annotations``; an annotation or
    missing-file error exits with ``error: <message>`` (no traceback); the
    split report is printed.
    """
    from .base import AnnotationError
    out_dir = out_dir or osp.join(data_root, 'annotations')
    try:
        res = convert(data_root, out_dir, *args, **kwargs)
    except (AnnotationError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}')
    print(res.report)
    return res


__all__ = [
    'ConversionResult', 'write_split_annotations', 'convert_nih',
    'convert_odir', 'convert_axspa', 'AXSPA_CLASSES', 'ODIR_CLASSES',
    'add_split_args', 'run_converter'
]
