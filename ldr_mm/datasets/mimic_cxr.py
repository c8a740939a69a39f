"""MIMIC-CXR-JPG 2.0.0 (PhysioNet): CheXpert labels per study, official split.

Three metadata files beside ``files/`` (each may be ``.csv.gz``):

* ``mimic-cxr-2.0.0-chexpert.csv``: ``subject_id,study_id`` then the 14
  observations (alphabetical); one row per **study**; cells ``1.0``,
  ``0.0``, ``-1.0`` or blank;
* ``mimic-cxr-2.0.0-split.csv``: ``dicom_id,study_id,subject_id,split``
  with split ``train`` / ``validate`` / ``test``;
* ``mimic-cxr-2.0.0-metadata.csv``: ``dicom_id,subject_id,study_id,
  PerformedProcedureStepDescription,ViewPosition,Rows,Columns,...``.

Every image (``dicom_id``) is a sample with its study's labels, at
``files/p{first two digits of subject_id}/p{subject_id}/s{study_id}/
{dicom_id}.jpg``.
"""
import csv
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import MMLogger

from mmpretrain.registry import DATASETS

from .base import AnnotationError, MedicalMultiLabelDataset
from .nih import open_text
from .splits import wanted_splits
from .uncertain import (LabelMaskMixin, apply_policy, finish_samples,
                        missing_columns, parse_label_row)

#: The 14 observations in the order of ``mimic-cxr-2.0.0-chexpert.csv``.
MIMIC_CLASSES = ('Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema',
                 'Enlarged Cardiomediastinum', 'Fracture', 'Lung Lesion',
                 'Lung Opacity', 'No Finding', 'Pleural Effusion',
                 'Pleural Other', 'Pneumonia', 'Pneumothorax',
                 'Support Devices')
MIMIC_FILES = dict(labels='mimic-cxr-2.0.0-chexpert.csv',
                   split='mimic-cxr-2.0.0-split.csv',
                   metadata='mimic-cxr-2.0.0-metadata.csv')
#: The split file's names -> ours.
MIMIC_SPLITS = dict(train='train', validate='val', test='test')
FRONTAL_VIEWS = ('PA', 'AP')


def _rows(path: str, required: Sequence[str]):
    with open_text(path) as f:
        reader = csv.DictReader(f)
        missing_columns(reader.fieldnames, required, path)
        for rec in reader:
            yield f'"{path}" line {reader.line_num}', rec


def _key(rec: dict, where: str, *cols) -> Tuple[str, ...]:
    out = tuple((rec.get(c) or '').strip() for c in cols)
    if not all(out):
        raise AnnotationError(f'{where}: empty {"/".join(cols)}')
    return out


def read_mimic_labels(path: str, policy: str) -> Dict[tuple, tuple]:
    """``{(subject_id, study_id): (labels, mask)}`` of the chexpert file."""
    out, lines = {}, {}
    for where, rec in _rows(path, ('subject_id', 'study_id') +
                            MIMIC_CLASSES):
        key = _key(rec, where, 'subject_id', 'study_id')
        if key in out:
            raise AnnotationError(f'{where}: study {key[1]} of subject '
                                  f'{key[0]} is already at {lines[key]}')
        lines[key] = where
        out[key] = apply_policy(
            parse_label_row(rec, MIMIC_CLASSES, where), policy)
    return out


def read_mimic_split(path: str) -> Dict[str, tuple]:
    """``{dicom_id: (subject_id, study_id, split)}`` of the split file."""
    out = {}
    for where, rec in _rows(path, ('dicom_id', 'study_id', 'subject_id',
                                   'split')):
        dicom, subject, study = _key(rec, where, 'dicom_id', 'subject_id',
                                     'study_id')
        s = (rec['split'] or '').strip()
        if s not in MIMIC_SPLITS:
            raise AnnotationError(f'{where}: split "{s}" is not one of '
                                  f'{list(MIMIC_SPLITS)}')
        if dicom in out:
            raise AnnotationError(f'{where}: dicom_id {dicom} is listed '
                                  'twice')
        out[dicom] = (subject, study, MIMIC_SPLITS[s])
    return out


def read_mimic_views(path: str) -> Dict[str, str]:
    """``{dicom_id: ViewPosition}`` of the metadata file."""
    return {
        _key(rec, where, 'dicom_id')[0]: (rec['ViewPosition'] or '').strip()
        for where, rec in _rows(path, ('dicom_id', 'ViewPosition'))
    }


def mimic_image_path(subject: str, study: str, dicom: str) -> str:
    """``files/p10/p10000032/s50414267/<dicom_id>.jpg``."""
    return f'files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg'


@DATASETS.register_module()
class MIMICCXRJPG(LabelMaskMixin, MedicalMultiLabelDataset):
    """MIMIC-CXR-JPG: study-level CheXpert labels on every image.

    The split is the official ``mimic-cxr-2.0.0-split.csv`` (``validate``
    is our ``val``); it is patient-disjoint. ``views`` keeps the images
    whose ``ViewPosition`` (metadata file) is listed: the frontal ``PA``
    and ``AP`` by default; None keeps all (lateral, ``LL``, empty ...).
    Images of studies without a row in the chexpert file (reports without
    findings / impression sections) are left out and counted in the log.

    Args:
        data_root (str): The ``mimic-cxr-jpg/2.0.0`` folder (metadata files
            and ``files/``).
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'trainval'``,
            ``'all'``.
        ann_file (str): ``''`` for the raw files, or a MultiLabelDataset
            ``.json``.
        uncertain (str): ``'ones'``, ``'zeros'`` (default) or ``'ignore'``.
        views (Sequence[str], optional): ViewPosition values to keep.
        check_files (bool): Check that the split's images exist.
        **kwargs: Other :class:`MultiLabelDataset` arguments.
    """
    METAINFO = dict(classes=MIMIC_CLASSES,
                    prompt_names=tuple(c.lower() for c in MIMIC_CLASSES))
    RAW_FILES = MIMIC_FILES
    RAW_FILES_HINT = ('data_root must be the mimic-cxr-jpg/2.0.0 folder as '
                      'downloaded')

    def __init__(self,
                 data_root: str = '',
                 split: Optional[str] = None,
                 ann_file: str = '',
                 views: Optional[Sequence[str]] = FRONTAL_VIEWS,
                 check_files: bool = True,
                 **kwargs):
        self.views = None if views is None else tuple(views)
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file, split=split, data_root=data_root, **kwargs)

    def load_raw(self) -> List[dict]:
        labels = read_mimic_labels(self.raw_file('labels'), self.uncertain)
        split = read_mimic_split(self.raw_file('split'))
        views = read_mimic_views(self.raw_file('metadata')) \
            if self.views is not None else {}
        keep = wanted_splits(self.split)
        out, unlabelled = [], 0
        for dicom, (subject, study, s) in split.items():
            if s not in keep:
                continue
            if self.views is not None:
                if dicom not in views:
                    raise AnnotationError(
                        f'dicom_id {dicom} of the split file is not in '
                        f'"{self.raw_file("metadata")}"')
                if views[dicom] not in self.views:
                    continue
            lab = labels.get((subject, study))
            if lab is None:
                unlabelled += 1
                continue
            info = dict(img_path=mimic_image_path(subject, study, dicom),
                        gt_label=lab[0], patient_id=subject,
                        study_id=study, dicom_id=dicom)
            if lab[1] is not None:
                info['gt_mask'] = lab[1]
            out.append(info)
        if unlabelled:
            MMLogger.get_current_instance().info(
                f'MIMICCXRJPG: {unlabelled} images of split "{self.split}" '
                'belong to studies without CheXpert labels; left out')
        return finish_samples(out, self.image_root, self.check_files,
                              f'MIMIC-CXR-JPG split "{self.split}"')
