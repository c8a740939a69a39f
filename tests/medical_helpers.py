"""Tiny fixtures in the real formats of the medical datasets (for tests).

Everything here is written by the tests themselves: a few-kilobyte PNG/JPG
per sample, metadata files with the real headers and quirks (NIH's
bracketed column names, ODIR's full-width commas, ...), a random prompt
cache, and cfg-options-style overrides that shrink a paper config to a
tiny CPU run.
"""
import csv
import gzip
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

NIH_V2020_HEADER = ('Image Index,Finding Labels,Follow-up #,Patient ID,'
                    'Patient Age,Patient Gender,View Position,'
                    'OriginalImage[Width,Height],'
                    'OriginalImagePixelSpacing[x,y]')
NIH_2017_HEADER = NIH_V2020_HEADER + ','
ODIR_HEADER = ('ID', 'Patient Age', 'Patient Sex', 'Left-Fundus',
               'Right-Fundus', 'Left-Diagnostic Keywords',
               'Right-Diagnostic Keywords', 'N', 'D', 'G', 'C', 'A', 'H', 'M',
               'O')


def shared_data_dir() -> str:
    return os.environ.get('LDR_SHARED_DATA',
                          osp.join(REPO, '..', 'shared', 'data'))


def shared_file(*parts) -> str:
    """Path of a real metadata file, or skip the test saying why."""
    path = osp.join(shared_data_dir(), *parts)
    if not osp.isfile(path):
        pytest.skip(f'real data file {path} not found (set LDR_SHARED_DATA '
                    'to the shared data folder)')
    return path


def write_image(path: str, kind: str = 'gray', size=(20, 24),
                seed: int = 0) -> np.ndarray:
    """Write a small image; kinds: gray, rgb, rgba, gray16, graya."""
    rng = np.random.default_rng(seed)
    h, w = size
    if kind == 'gray':
        img = rng.integers(0, 256, (h, w), dtype=np.uint8)
    elif kind == 'gray16':
        img = rng.integers(0, 4096, (h, w), dtype=np.uint16)
    elif kind == 'rgb':
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif kind == 'rgba':
        img = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        img[..., 3] = 255
    else:
        raise KeyError(kind)
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, img), path
    return img


KINDS = ('gray', 'rgb', 'rgba')

# --------------------------------------------------------------------- NIH
NIH_FINDINGS = ('No Finding', 'Atelectasis', 'Cardiomegaly|Effusion',
                'Infiltration', 'Mass|Nodule', 'Pneumonia', 'Pneumothorax',
                'Consolidation|Edema', 'Emphysema', 'Fibrosis',
                'Pleural_Thickening|Hernia', 'Effusion|Infiltration')


def nih_rows(n_patients: int = 12, per_patient: int = 3) -> List[list]:
    """Rows of a synthetic Data_Entry file (11 fields each)."""
    rows = []
    k = 0
    for p in range(1, n_patients + 1):
        sex = 'M' if p % 2 else 'F'
        for f in range(per_patient):
            rows.append([
                f'{p:08d}_{f:03d}.png', NIH_FINDINGS[k % len(NIH_FINDINGS)],
                str(f), str(p), str(40 + f), sex, 'PA' if k % 3 else 'AP',
                '2500', '2048', '0.143', '0.143'
            ])
            k += 1
    return rows


def write_nih_csv(path: str, rows: Sequence[Sequence[str]],
                  layout: str = 'v2020') -> str:
    """Write rows under the real v2020 or 2017 header (``.gz`` allowed)."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    header = NIH_V2020_HEADER if layout == 'v2020' else NIH_2017_HEADER
    lines = [header]
    for r in rows:
        r = list(r)
        if layout == '2017':
            r[4] = f'{int(r[4]):03d}Y'  # early copies: ages like 058Y
            r = r + ['']  # trailing empty column
        lines.append(','.join(r))
    text = '\n'.join(lines) + '\n'
    if path.endswith('.gz'):
        with gzip.open(path, 'wt', newline='') as f:
            f.write(text)
    else:
        with open(path, 'w', newline='') as f:
            f.write(text)
    return path


def make_nih(root: str, n_patients: int = 12, per_patient: int = 3,
             layout: str = 'v2020', size=(20, 24)) -> Dict[str, str]:
    """A tiny NIH folder: CSV, official lists, images in two archives."""
    rows = nih_rows(n_patients, per_patient)
    write_nih_csv(osp.join(root, 'Data_Entry_2017_v2020.csv'), rows, layout)
    for i, r in enumerate(rows):
        archive = 'images_001' if i < len(rows) // 2 else 'images_002'
        write_image(osp.join(root, archive, 'images', r[0]),
                    KINDS[i % len(KINDS)], size, seed=i)
    test_pids = {str(p) for p in range(1, n_patients + 1) if p % 4 == 0}
    tv = [r[0] for r in rows if r[3] not in test_pids]
    te = [r[0] for r in rows if r[3] in test_pids]
    with open(osp.join(root, 'train_val_list.txt'), 'w') as f:
        f.write('\n'.join(tv) + '\n')
    with open(osp.join(root, 'test_list.txt'), 'w') as f:
        f.write('\n'.join(te))  # no trailing newline, as the real one
    return dict(rows=rows, trainval=tv, test=te)


# -------------------------------------------------------------------- ODIR
ODIR_PATTERNS = [
    # (left keywords, right keywords, labels N D G C A H M O)
    ('normal fundus', 'normal fundus', 'N'),
    ('moderate non proliferative retinopathy\uff0claser spot',
     'normal fundus', 'DO'),
    ('glaucoma', 'normal fundus', 'G'),
    ('cataract', 'lens dust,normal fundus', 'C'),
    ('dry age-related macular degeneration', 'normal fundus', 'A'),
    ('hypertensive retinopathy', 'hypertensive retinopathy', 'H'),
    ('pathological myopia', 'no fundus image', 'M'),
    ('epiretinal membrane', 'normal fundus', 'O'),
    ('mild nonproliferative retinopathy', 'low image quality', 'D'),
]


def odir_rows(n_patients: int = 20) -> List[tuple]:
    rows = []
    for i in range(n_patients):
        left, right, labs = ODIR_PATTERNS[i % len(ODIR_PATTERNS)]
        pid = i * 3 + 1
        rows.append((str(pid) if i else pid, 40 + i % 30,
                     'Female' if i % 2 else 'Male', f'{pid}_left.jpg',
                     f'{pid}_right.jpg', left, right) +
                    tuple(int(c in labs) for c in 'NDGCAHMO'))
    return rows


def write_odir_xlsx(path: str, rows: Sequence[tuple],
                    header: Sequence[str] = ODIR_HEADER) -> str:
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = 'Sheet1'
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    wb.save(path)
    return path


def make_odir(root: str, n_patients: int = 20, size=(18, 22),
              img_dir: str = 'ODIR-5K_Training_Dataset') -> List[tuple]:
    rows = odir_rows(n_patients)
    write_odir_xlsx(
        osp.join(root, 'ODIR-5K_Training_Annotations(Updated)_V2.xlsx'), rows)
    for i, r in enumerate(rows):
        for j, name in enumerate((r[3], r[4])):
            write_image(osp.join(root, img_dir, name), 'rgb', size,
                        seed=2 * i + j)
    return rows


# ------------------------------------------------------------------- AxSpA
AXSPA = ('ER', 'EL', 'SR', 'SL', 'JSR', 'JSL', 'OR', 'OL', 'LR', 'LL', 'BMER',
         'BMEL')


def axspa_rows(n_patients: int = 10, slices: int = 3,
               seed: int = 0) -> List[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for s in range(slices):
            lab = (rng.random(len(AXSPA)) < np.linspace(0.6, 0.15,
                                                        len(AXSPA)))
            row = dict(patient_id=f'P{p:04d}',
                       img_path=f'P{p:04d}/slice_{s:02d}.png',
                       slice_index=str(s))
            row.update({c: str(int(v)) for c, v in zip(AXSPA, lab)})
            rows.append(row)
    return rows


def write_axspa_csv(path: str, rows: Sequence[dict],
                    columns: Optional[Sequence[str]] = None) -> str:
    columns = list(columns or rows[0].keys())
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def make_axspa(root: str, n_patients: int = 10, slices: int = 3,
               size=(20, 20)) -> List[dict]:
    rows = axspa_rows(n_patients, slices)
    write_axspa_csv(osp.join(root, 'annotations.csv'), rows)
    for i, r in enumerate(rows):
        write_image(osp.join(root, r['img_path']),
                    'gray16' if i % 4 == 3 else 'gray', size, seed=i)
    return rows


# ----------------------------------------------------------------- configs
def write_prompt_cache(path: str, classes: Sequence[str], dim: int = 16,
                       tokens: int = 12) -> str:
    from conftest import write_prompt_cache as write
    write(path, classes, num_tokens=tokens, dims=dim)
    return path


def _pipeline_overrides(cfg, key: str, scale: int, crop: int) -> dict:
    out = {}
    for i, t in enumerate(cfg[key]['dataset']['pipeline']):
        if t['type'] == 'Resize':
            out[f'{key}.dataset.pipeline.{i}.scale'] = (scale, scale)
        elif t['type'] in ('RandomCrop', 'CenterCrop'):
            out[f'{key}.dataset.pipeline.{i}.crop_size'] = crop
    return out


def tiny_overrides(cfg, data_root: str, prompt_cache: str, work_dir: str,
                   scale: int = 40, crop: int = 32,
                   train_images: int = 4) -> dict:
    """cfg-options-style overrides: tiny backbone, images and run.

    The backbone keeps its type (ResNet / DenseNet) but becomes a few
    thousand parameters with random init; 2 training iterations (batch 2)
    and one validation pass.
    """
    bb = cfg.model.backbone
    o = {'model.neck.prompt_cache': prompt_cache,
         'work_dir': work_dir,
         'train_cfg.max_epochs': 1,
         'default_hooks.logger.interval': 1}
    if bb.type == 'ResNet':
        o.update({'model.backbone.init_cfg': None,
                  'model.backbone.depth': 18,
                  'model.backbone.stem_channels': 8,
                  'model.backbone.base_channels': 8,
                  'model.neck.in_channels': 64})
    elif bb.type == 'DenseNet':
        # 16 + 8 -> 12 -> 20 -> 10 -> 18 -> 9 -> 17 output channels
        o.update({'model.backbone': dict(
                     _delete_=True, type='DenseNet', init_cfg=None,
                     arch=dict(growth_rate=8, depths=[1, 1, 1, 1],
                               init_channels=16)),
                  'model.neck.in_channels': 17,
                  'model.neck.embed_dims': 32})
    else:
        raise KeyError(bb.type)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        o.update(_pipeline_overrides(cfg, key, scale, crop))
        o[f'{key}.dataset.data_root'] = data_root
        o[f'{key}.batch_size'] = 2 if key == 'train_dataloader' else 8
        o[f'{key}.num_workers'] = 0
        o[f'{key}.persistent_workers'] = False
    o['train_dataloader.dataset.indices'] = train_images
    loss = cfg.model.head.get('loss') or {}
    if loss.get('type') == 'DistributionBalancedLoss':
        # a few training images cannot hold a positive and a negative of
        # every class, which the DB loss needs: it gets given frequencies
        # (ClassFrequencyHook keeps them; its counting is tested in
        # tests/test_baselines.py)
        C = cfg.model.head.num_classes
        o['model.head.loss.class_counts'] = [1] * C
        o['model.head.loss.num_samples'] = 2
    return o
