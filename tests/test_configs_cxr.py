"""The CheXpert / MIMIC-CXR-JPG configs and DICOM / NIfTI input end to end.

The configs are loaded as a user would, shrunk by the same overrides as the
paper's configs (tests/test_configs_medical.py) and trained on fixture trees
written with the real files' headers; a generic-CSV child config trains on
DICOM files and NIfTI slices, and tools/infer.py reads a DICOM.
"""
import csv
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ldr_mm  # noqa: F401
from ldr_mm.datasets import CHEXPERT_CLASSES, MIMIC_CLASSES, LoadMedicalImage
from cxr_helpers import write_chexpert, write_mimic
from inference_helpers import load_tool
from medical_helpers import REPO, tiny_overrides, write_prompt_cache

KINDS = dict(chexpert=('CheXpert', CHEXPERT_CLASSES),
             mimic=('MIMICCXRJPG', MIMIC_CLASSES))


def config_path(name):
    return osp.join(REPO, 'configs', 'ldrnet', f'{name}.py')


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp('cxr')
    cx = str(base / 'CheXpert-v1.0-small')
    os.makedirs(cx)
    write_chexpert(cx, n_patients=(10, 3))
    mimic = str(base / 'mimic')
    write_mimic(mimic, n_subjects=20)
    return dict(
        chexpert=dict(root=cx, cache=write_prompt_cache(
            str(base / 'cx.pth'), CHEXPERT_CLASSES)),
        mimic=dict(root=mimic, cache=write_prompt_cache(
            str(base / 'mimic.pth'), MIMIC_CLASSES)))


def tiny_cfg(name, data, work_dir, cfg_file=None):
    cfg = Config.fromfile(cfg_file or config_path(name))
    d = data[name.split('_')[2]]
    cfg.merge_from_dict(tiny_overrides(cfg, d['root'], d['cache'], work_dir))
    return cfg


@pytest.mark.parametrize('kind', ['chexpert', 'mimic'])
def test_configs_mask_uncertain_labels(kind):
    for stage in (1, 2):
        cfg = Config.fromfile(config_path(f'ldr_r50_{kind}_stage{stage}'))
        assert cfg.model.head.num_classes == 14
        assert cfg.model.neck.prompt_cache == \
            f'data/prompts/{kind}_ViT-B-32.pth'
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            ds = cfg[key].dataset
            assert ds.type == KINDS[kind][0] and ds.uncertain == 'ignore'
            pack = ds.pipeline[-1]
            assert pack.type == 'PackInputs'
            assert 'gt_mask' in pack.algorithm_keys
    cfg = Config.fromfile(config_path(f'ldr_r50_{kind}_stage2'))
    assert cfg.model.type == 'LDRStage2Classifier'


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['chexpert', 'mimic'])
def test_stage1_and_stage2_run(kind, data, tmp_path):
    torch.manual_seed(0)
    s1 = tiny_cfg(f'ldr_r50_{kind}_stage1', data, str(tmp_path / 's1'))
    runner = Runner.from_cfg(s1)
    sample = runner.train_dataloader.dataset[0]['data_samples']
    assert len(sample.gt_mask) == 14 and set(sample.gt_mask) <= {0, 1}
    runner.train()
    assert runner.iter == 2
    val = {k: v.current() for k, v in runner.message_hub.log_scalars.items()
           if k.startswith('val/')}
    assert 'val/auc/mean' in val and 'val/mAP/mean' in val
    if kind == 'mimic':
        return
    cfg = tiny_cfg(f'ldr_r50_{kind}_stage2', data, str(tmp_path / 's2'))
    cfg.train_cfg.pop('max_epochs', None)
    cfg.train_cfg.update(rounds=2, e_iters=1, m_iters=3, virtual_batch_size=8)
    cfg.merge_from_dict({
        'model.stage1_checkpoint': osp.join(s1.work_dir, 'epoch_1.pth'),
        'default_hooks.checkpoint.interval': 2})
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    # the statistics pass counted the known labels of each class only
    ds = runner.train_dataloader.dataset
    known = np.sum([ds.get_data_info(i)['gt_mask'] for i in range(len(ds))],
                   axis=0)
    stats = torch.load(osp.join(cfg.work_dir, 'reconstruction',
                                'stats_round1.pth'), weights_only=True)
    assert stats['counts'].sum(-1).tolist() == known.tolist()
    assert known.min() < len(ds)  # the fixture has uncertain labels


CSV_CHILD = '''_base_ = [{base!r}]
classes = {classes!r}
data_root = {root!r}
_ds = dict(_delete_=True, type='MultiLabelCSVDataset', data_root=data_root,
           ann_file='table.csv', split_column='split', classes=classes,
           uncertain='ignore')
train_dataloader = dict(dataset=dict(**_ds, split='train',
                                     pipeline={{{{_base_.train_pipeline}}}}))
val_dataloader = dict(dataset=dict(**_ds, split='val',
                                   pipeline={{{{_base_.test_pipeline}}}}))
test_dataloader = dict(dataset=dict(**_ds, split='test',
                                    pipeline={{{{_base_.test_pipeline}}}}))
'''


def _dicom_nifti_table(root):
    """DICOM files (pydicom's) and NIfTI slices (nibabel's) in a CSV with
    per-class columns (1/0/-1) and a split column."""
    from nibabel.testing import data_path
    from pydicom.data import get_testdata_file
    os.makedirs(osp.join(root, 'dcm'))
    files = []
    for name in ('CT_small.dcm', 'MR_small.dcm', 'MR_small_RLE.dcm'):
        dst = osp.join(root, 'dcm', name)
        shutil.copy(get_testdata_file(name, download=False), dst)
        files.append((f'dcm/{name}', ''))
    shutil.copy(osp.join(data_path, 'anatomical.nii'),
                osp.join(root, 'anat.nii'))
    files += [('anat.nii', k) for k in (4, 8, 12, 16, 20)]
    rng = np.random.default_rng(0)
    with open(osp.join(root, 'table.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['img_path', 'slice_index', 'split'] + list(
            CHEXPERT_CLASSES))
        for i, (p, k) in enumerate(files):
            split = 'train' if i % 2 == 0 else ('val' if i % 4 == 1 else
                                                'test')
            w.writerow([p, k, split] + [int(v) for v in rng.integers(
                -1, 2, 14)])


@pytest.mark.slow
def test_dicom_and_nifti_through_the_runner_and_infer(data, tmp_path):
    pytest.importorskip('pydicom')
    pytest.importorskip('nibabel')
    root = str(tmp_path / 'mixed')
    _dicom_nifti_table(root)
    child = tmp_path / 'child.py'
    child.write_text(CSV_CHILD.format(
        base=config_path('ldr_r50_chexpert_stage1'),
        classes=list(CHEXPERT_CLASSES), root=root))
    cfg = tiny_cfg('ldr_r50_chexpert_stage1', data, str(tmp_path / 'work'),
                   str(child))
    cfg.merge_from_dict({'train_dataloader.dataset.indices': None})
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    assert type(runner.train_dataloader.dataset).__name__ == \
        'MultiLabelCSVDataset'
    runner.train()
    assert runner.iter >= 2
    ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')
    dumped = str(tmp_path / 'dumped.py')
    cfg.dump(dumped)
    # tools/infer.py on a DICOM gives the scores of the same pixels as PNG
    dcm = osp.join(root, 'dcm', 'MR_small.dcm')
    png = str(tmp_path / 'MR_small.png')
    cv2.imwrite(png, LoadMedicalImage()(dict(img_path=dcm))['img'])
    out = str(tmp_path / 'r.csv')
    load_tool('infer.py').main([dumped, ckpt, dcm, png, '--out', out,
                                '--device', 'cpu', '--no-progress'])
    rows = list(csv.DictReader(open(out)))
    assert [r['img_path'] for r in rows] == [dcm, png]
    a = [float(rows[0][f'score/{c}']) for c in CHEXPERT_CLASSES]
    b = [float(rows[1][f'score/{c}']) for c in CHEXPERT_CLASSES]
    np.testing.assert_allclose(a, b, rtol=1e-6)
    # a NIfTI volume: the slice from --cfg-options, the same as its PNG
    nii = osp.join(root, 'anat.nii')
    png = str(tmp_path / 'anat_12.png')
    cv2.imwrite(png, LoadMedicalImage()(dict(img_path=nii,
                                             slice_index=12))['img'])
    load_tool('infer.py').main([
        dumped, ckpt, nii, png, '--out', out, '--device', 'cpu',
        '--no-progress', '--cfg-options',
        'test_dataloader.dataset.pipeline.0.slice_index=middle'])
    rows = list(csv.DictReader(open(out)))
    a = [float(rows[0][f'score/{c}']) for c in CHEXPERT_CLASSES]
    b = [float(rows[1][f'score/{c}']) for c in CHEXPERT_CLASSES]
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize('kind', ['chexpert', 'mimic'])
def test_prompt_classes_come_from_the_config(kind):
    """tools/misc/extract_prompt_embeddings.py reads the 14 classes (in the
    dataset's order) and the prompt words without any data on disk."""
    mod = load_tool('misc/extract_prompt_embeddings.py')
    classes, words = mod.classes_from_config(
        Config.fromfile(config_path(f'ldr_r50_{kind}_stage1')))
    assert list(classes) == list(KINDS[kind][1])
    assert words[0] == KINDS[kind][1][0].lower()
