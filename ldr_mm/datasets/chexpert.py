"""CheXpert (Stanford): ``train.csv`` / ``valid.csv`` and the images.

Header (both files, exact): ``Path,Sex,Age,Frontal/Lateral,AP/PA`` then
the 14 observations in :data:`CHEXPERT_CLASSES` order. Label cells are
``1.0``, ``0.0``, ``-1.0`` (uncertain) or blank (not mentioned); ``Path``
starts with the dataset folder (``CheXpert-v1.0-small/train/patient00001/
study1/view1_frontal.jpg``), the folder that holds the two CSV files.
"""
import csv
from typing import List, Optional, Sequence

from mmpretrain.registry import DATASETS

from .base import (AnnotationError, MedicalMultiLabelDataset,
                   PatientSplitMixin)
from .nih import open_text
from .splits import patient_split, wanted_splits
from .uncertain import (LabelMaskMixin, apply_policy, finish_samples,
                        missing_columns, parse_label_row)

#: The 14 observations, in the files' column order.
CHEXPERT_CLASSES = ('No Finding', 'Enlarged Cardiomediastinum',
                    'Cardiomegaly', 'Lung Opacity', 'Lung Lesion', 'Edema',
                    'Consolidation', 'Pneumonia', 'Atelectasis',
                    'Pneumothorax', 'Pleural Effusion', 'Pleural Other',
                    'Fracture', 'Support Devices')
CHEXPERT_META_COLUMNS = ('Path', 'Sex', 'Age', 'Frontal/Lateral', 'AP/PA')
CHEXPERT_FILES = dict(train='train.csv', valid='valid.csv')
#: CheXpert's competition tasks (the classes its paper evaluates).
CHEXPERT_COMPETITION = ('Atelectasis', 'Cardiomegaly', 'Consolidation',
                        'Edema', 'Pleural Effusion')


def chexpert_patient(path: str) -> str:
    """``patient00001`` from a ``Path`` cell (the folder named patient*)."""
    for part in path.replace('\\', '/').split('/'):
        if part.startswith('patient'):
            return part
    return ''


def strip_dataset_folder(path: str) -> str:
    """``train/patient1/...`` from ``CheXpert-v1.0-small/train/patient1/...``
    (``Path`` is relative to the folder *above* the CSV files)."""
    head, sep, rest = path.replace('\\', '/').partition('/')
    return rest if sep and head.lower().startswith('chexpert') else path


def read_chexpert_csv(path: str, policy: str, views=None) -> List[dict]:
    """Samples of one CheXpert CSV.

    Args:
        path (str): ``train.csv`` or ``valid.csv`` (``.gz`` read too).
        policy (str): Uncertain-label policy (``'ones'``, ``'zeros'``,
            ``'ignore'``).
        views (Sequence[str], optional): Keep rows whose ``Frontal/Lateral``
            or ``AP/PA`` value is listed (e.g. ``('Frontal', )``); None
            keeps all.

    Returns:
        list[dict]: ``img_path`` (as written, without the dataset folder),
        ``gt_label``, ``patient_id``, ``view`` and, with
        U-Ignore, ``gt_mask``.

    Raises:
        AnnotationError: A missing column, a bad label cell, an empty
            ``Path`` or one without a ``patient*`` folder, a repeated image.
    """
    out, seen = [], {}
    with open_text(path) as f:
        reader = csv.DictReader(f)
        missing_columns(reader.fieldnames,
                        ('Path', 'Frontal/Lateral') + CHEXPERT_CLASSES, path)
        for rec in reader:
            where = f'"{path}" line {reader.line_num}'
            img = (rec['Path'] or '').strip()
            pid = chexpert_patient(img)
            if not pid:
                raise AnnotationError(
                    f'{where}: Path "{img}" has no patient* folder')
            if img in seen:
                raise AnnotationError(f'{where}: image "{img}" is already '
                                      f'listed at line {seen[img]}')
            seen[img] = reader.line_num
            view = (rec.get('Frontal/Lateral') or '').strip()
            appa = (rec.get('AP/PA') or '').strip()
            if views is not None and view not in views and \
                    appa not in views:
                continue
            labels, mask = apply_policy(
                parse_label_row(rec, CHEXPERT_CLASSES, where), policy)
            info = dict(img_path=strip_dataset_folder(img), gt_label=labels,
                        patient_id=pid, view=appa or view)
            if mask is not None:
                info['gt_mask'] = mask
            out.append(info)
    return out


@DATASETS.register_module()
class CheXpert(LabelMaskMixin, PatientSplitMixin,
               MedicalMultiLabelDataset):
    """CheXpert chest X-rays: 14 observations with uncertain labels.

    Splits (``split_method``):

    * ``'official'`` (default): ``test`` is ``valid.csv`` (the public,
      radiologist-labelled evaluation set; CheXpert's hidden test set is
      not downloadable); ``train`` / ``val`` are a seeded patient-level
      7:1 split of ``train.csv`` (as NIH's official split here);
    * ``'patient'``: a seeded patient-level ``split_ratios`` split of both
      files together.

    Uncertain labels (-1): ``uncertain='ones'`` / ``'zeros'`` / ``'ignore'``
    (see :mod:`ldr_mm.datasets.uncertain`); blank cells are negatives.
    ``valid.csv`` has no uncertain labels.

    Args:
        data_root (str): The folder holding ``train.csv`` and ``valid.csv``
            (``CheXpert-v1.0-small`` or ``CheXpert-v1.0`` as unpacked).
        split (str): ``'train'``, ``'val'``, ``'test'``, ``'trainval'``,
            ``'all'``.
        ann_file (str): ``''`` for the raw CSV files, or a MultiLabelDataset
            ``.json``.
        uncertain (str): ``'ones'``, ``'zeros'`` (default) or ``'ignore'``.
        views (Sequence[str], optional): e.g. ``('Frontal', )`` or
            ``('PA', 'AP')``; None (default) keeps all views.
        split_method (str): ``'official'`` or ``'patient'``.
        split_ratios (Sequence[float]): For ``'patient'`` (and the 7:1 of
            ``'official'``, which uses its first two entries).
        split_seed (int): Seed of the patient-level splits.
        check_files (bool): Check that the split's images exist.
        **kwargs: Other :class:`MultiLabelDataset` arguments.
    """
    METAINFO = dict(classes=CHEXPERT_CLASSES, prompt_names=tuple(
        c.lower() for c in CHEXPERT_CLASSES))
    RAW_FILES = CHEXPERT_FILES
    RAW_FILES_HINT = ('data_root must be the folder holding train.csv and '
                      'valid.csv (e.g. data/chexpert/CheXpert-v1.0-small).')

    def __init__(self,
                 data_root: str = '',
                 split: Optional[str] = None,
                 ann_file: str = '',
                 views: Optional[Sequence[str]] = None,
                 split_method: str = 'official',
                 check_files: bool = True,
                 **kwargs):
        if split_method not in ('official', 'patient'):
            raise ValueError("CheXpert: split_method must be 'official' or "
                             f"'patient', got {split_method!r}")
        self.views = None if views is None else tuple(views)
        self.split_method = split_method
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file, split=split, data_root=data_root, **kwargs)

    def load_raw(self) -> List[dict]:
        keep = wanted_splits(self.split)
        official = self.split_method == 'official'
        # 'official': train / val come from train.csv only, test from
        # valid.csv only; read just what the split needs
        train = read_chexpert_csv(
            self.raw_file('train'), self.uncertain, self.views) if not \
            official or {'train', 'val'} & set(keep) else []
        valid = read_chexpert_csv(
            self.raw_file('valid'), self.uncertain, self.views) if not \
            official or 'test' in keep else []
        if official:
            assign = patient_split([d['patient_id'] for d in train],
                                   ratios=self.split_ratios[:2],
                                   seed=self.split_seed,
                                   names=('train', 'val'))
            out = [d for d in train if assign[d['patient_id']] in keep]
            out += valid if 'test' in keep else []
        else:
            assign = patient_split([d['patient_id'] for d in train + valid],
                                   ratios=self.split_ratios,
                                   seed=self.split_seed)
            out = [d for d in train + valid
                   if assign[d['patient_id']] in keep]
        return finish_samples(out, self.image_root, self.check_files,
                              f'CheXpert split "{self.split}"')
