"""Tiny CheXpert and MIMIC-CXR-JPG trees with the real files' headers.

Headers (checked against the datasets' documentation): CheXpert
``train.csv`` / ``valid.csv`` = ``Path,Sex,Age,Frontal/Lateral,AP/PA`` + the
14 observations; MIMIC-CXR-JPG ``mimic-cxr-2.0.0-chexpert.csv`` =
``subject_id,study_id`` + the 14 observations (alphabetical),
``-split.csv`` = ``dicom_id,study_id,subject_id,split``, ``-metadata.csv``
= ``dicom_id,subject_id,study_id,PerformedProcedureStepDescription,
ViewPosition,Rows,Columns,StudyDate,StudyTime,
ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,
PatientOrientationCodeSequence_CodeMeaning``. Label cells are written as
the files write them: ``1.0``, ``0.0``, ``-1.0`` or empty.
"""
import csv
import os
import os.path as osp

import cv2
import numpy as np

from ldr_mm.datasets import CHEXPERT_CLASSES, MIMIC_CLASSES

CHEXPERT_HEADER = ('Path', 'Sex', 'Age', 'Frontal/Lateral',
                   'AP/PA') + CHEXPERT_CLASSES
MIMIC_LABEL_HEADER = ('subject_id', 'study_id') + MIMIC_CLASSES
MIMIC_SPLIT_HEADER = ('dicom_id', 'study_id', 'subject_id', 'split')
MIMIC_META_HEADER = ('dicom_id', 'subject_id', 'study_id',
                     'PerformedProcedureStepDescription', 'ViewPosition',
                     'Rows', 'Columns', 'StudyDate', 'StudyTime',
                     'ProcedureCodeSequence_CodeMeaning',
                     'ViewCodeSequence_CodeMeaning',
                     'PatientOrientationCodeSequence_CodeMeaning')
CELL = {1: '1.0', 0: '0.0', -1: '-1.0', None: ''}


def _jpg(path, rng, size):
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = rng.integers(0, 256, (size, size), dtype=np.uint8)
    cv2.imwrite(path, img)


def random_values(rng, n, C, p_uncertain=0.1, p_blank=0.3):
    """(n, C) entries in {1, 0, -1, None} (None = blank)."""
    out = []
    for _ in range(n):
        row = []
        for _ in range(C):
            r = rng.random()
            row.append(-1 if r < p_uncertain else None if r < p_uncertain +
                       p_blank else int(rng.random() < 0.3))
        out.append(row)
    return out


def write_chexpert(root, n_patients=(12, 3), seed=0, size=32,
                   images=True):
    """``root`` = the CheXpert-v1.0-small folder; returns the rows written
    as {'train': [(path, view, values)], 'valid': [...]}."""
    rng = np.random.default_rng(seed)
    written = {}
    for name, n in zip(('train', 'valid'), n_patients):
        rows = []
        offset = 0 if name == 'train' else 64000
        for p in range(n):
            pid = f'patient{offset + p + 1:05d}'
            for study in range(1, 1 + int(rng.integers(1, 3))):
                views = [('frontal', 'Frontal', 'AP' if p % 2 else 'PA')]
                if rng.random() < 0.5:
                    views.append(('lateral', 'Lateral', ''))
                for v, (kind, fl, appa) in enumerate(views, 1):
                    rel = f'{name}/{pid}/study{study}/view{v}_{kind}.jpg'
                    vals = random_values(
                        rng, 1, 14, 0.0 if name == 'valid' else 0.15,
                        0.0 if name == 'valid' else 0.3)[0]
                    rows.append((rel, fl, appa, vals))
                    if images:
                        _jpg(osp.join(root, rel), rng, size)
        with open(osp.join(root, f'{name}.csv'), 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(CHEXPERT_HEADER)
            for rel, fl, appa, vals in rows:
                w.writerow([f'CheXpert-v1.0-small/{rel}',
                            rng.choice(['Female', 'Male']),
                            int(rng.integers(20, 90)), fl, appa] +
                           [CELL[v] for v in vals])
        written[name] = rows
    return written


def write_mimic(root, n_subjects=10, seed=0, size=32, images=True):
    """A MIMIC-CXR-JPG 2.0.0 tree; returns per-dicom dicts (subject, study,
    split, view, values)."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    label_rows, split_rows, meta_rows, out = [], [], [], {}
    splits = ['train'] * 7 + ['validate'] + ['test'] * 2
    for s in range(n_subjects):
        subject = str(10000032 + 1117 * s)
        split = splits[s % len(splits)]
        for k in range(int(rng.integers(1, 3))):
            study = str(50000000 + 100 * s + k)
            vals = random_values(rng, 1, 14)[0]
            labelled = not (s == 3 and k == 0)  # one study without labels
            if labelled:
                label_rows.append([subject, study] + [CELL[v] for v in vals])
            for j, view in enumerate(['PA' if s % 2 else 'AP', 'LATERAL']):
                dicom = f'{s:08x}-{k:08x}-{j:08x}-0000000{j}-deadbeef'
                split_rows.append([dicom, study, subject, split])
                meta_rows.append([dicom, subject, study, 'CHEST (PA AND LAT)',
                                  view, 3056, 2544, 21800506, 213014.531,
                                  'CHEST (PA AND LAT)', 'postero-anterior',
                                  'Erect'])
                out[dicom] = dict(subject=subject, study=study, split=split,
                                  view=view, values=vals, labelled=labelled)
                if images:
                    _jpg(osp.join(root, f'files/p{subject[:2]}/p{subject}/'
                                  f's{study}/{dicom}.jpg'), rng, size)
    for name, header, rows in (
            ('mimic-cxr-2.0.0-chexpert.csv', MIMIC_LABEL_HEADER, label_rows),
            ('mimic-cxr-2.0.0-split.csv', MIMIC_SPLIT_HEADER, split_rows),
            ('mimic-cxr-2.0.0-metadata.csv', MIMIC_META_HEADER, meta_rows)):
        with open(osp.join(root, name), 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    return out
