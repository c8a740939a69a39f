"""The six stage-1 configs of the paper's experiments.

Each config is loaded as a user would, shrunk by cfg-options-style
overrides (tiny backbone of the same type, tiny images, a random prompt
cache, fixture data in the real formats) and run for 2 training iterations
plus one validation on CPU through MMEngine's Runner.
"""
import importlib.util
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ldr_mm  # noqa: F401
from ldr_mm.datasets import AXSPA_CLASSES, NIH_CLASSES, ODIR_CLASSES
from ldr_mm.datasets.converters import (convert_axspa, convert_nih,
                                        convert_odir)
from medical_helpers import (REPO, make_axspa, make_nih, make_odir,
                             tiny_overrides, write_prompt_cache)

DATASETS = dict(
    nih=dict(classes=NIH_CLASSES, type='NIHChestXray14', size=(512, 448)),
    odir=dict(classes=ODIR_CLASSES, type='ODIR5K', size=(512, 448)),
    spa=dict(classes=AXSPA_CLASSES, type='AxSpADataset', size=(256, 224)))
CONFIGS = [f'ldr_{b}_{d}_stage1' for b in ('r50', 'd121')
           for d in ('nih', 'odir', 'spa')]


def config_path(name):
    return osp.join(REPO, 'configs', 'ldrnet', f'{name}.py')


def dataset_of(name):
    return name.split('_')[2]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """One tiny dataset per kind, its converted JSON and a prompt cache."""
    base = tmp_path_factory.mktemp('medical')
    out = {}
    for key, make, conv in (('nih', make_nih, convert_nih),
                            ('odir', make_odir, convert_odir),
                            ('spa', make_axspa, convert_axspa)):
        root = str(base / key)
        if key == 'odir':
            make(root, n_patients=30)
        else:
            make(root)
        conv(root, osp.join(root, 'annotations'))
        cache = write_prompt_cache(osp.join(root, 'prompt.pth'),
                                   DATASETS[key]['classes'])
        out[key] = dict(root=root, cache=cache)
    return out


def tiny_cfg(name, data, work_dir, cfg_file=None):
    cfg = Config.fromfile(cfg_file or config_path(name))
    d = data[dataset_of(name)]
    cfg.merge_from_dict(tiny_overrides(cfg, d['root'], d['cache'], work_dir))
    return cfg


def val_scalars(runner):
    return {k[4:]: v.current()
            for k, v in runner.message_hub.log_scalars.items()
            if k.startswith('val/') and k not in ('val/time',
                                                  'val/data_time')}


@pytest.mark.parametrize('name', CONFIGS)
def test_paper_settings(name):
    cfg = Config.fromfile(config_path(name))
    kind = DATASETS[dataset_of(name)]
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay, tuple(opt.betas)) == (
        'Adam', 1e-4, 1e-5, (0.9, 0.999))
    assert cfg.train_dataloader.batch_size == 32
    scale, crop = kind['size']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[key].dataset
        assert ds.type == kind['type']
        types = {t.type: t for t in ds.pipeline}
        assert types['LoadMedicalImage']
        assert tuple(types['Resize'].scale) == (scale, scale)
        c = types.get('RandomCrop') or types.get('CenterCrop')
        assert c.crop_size == crop
        if dataset_of(name) == 'spa':  # lateral labels: never flip
            assert 'RandomFlip' not in types
    assert 'RandomCrop' in {t.type for t in cfg.train_pipeline}
    assert 'CenterCrop' in {t.type for t in cfg.test_pipeline}
    C = len(kind['classes'])
    assert cfg.model.head.num_classes == C
    assert cfg.data_preprocessor.num_classes == C
    assert cfg.data_preprocessor.to_onehot
    bb = cfg.model.backbone
    if name.startswith('ldr_r50'):
        assert (bb.type, bb.depth, cfg.model.neck.in_channels) == (
            'ResNet', 50, 2048)
    else:
        assert (bb.type, bb.arch, cfg.model.neck.in_channels) == (
            'DenseNet', '121', 1024)
    assert bb.init_cfg.type == 'Pretrained' and 'in1k' in \
        bb.init_cfg.checkpoint
    key = 'axspa' if dataset_of(name) == 'spa' else dataset_of(name)
    assert cfg.model.neck.prompt_cache == f'data/prompts/{key}_ViT-B-32.pth'
    assert 'ldr_mm' in cfg.custom_imports.imports
    metrics = {m.type for m in cfg.val_evaluator}
    assert {'MultiLabelAUC', 'MultiLabelAP', 'MultiLabelAccuracy',
            'MultiLabelBalancedAccuracy'} <= metrics
    if dataset_of(name) == 'odir':
        assert 'ODIRMetric' in metrics
        assert cfg.default_hooks.checkpoint.save_best == 'odir/final'
        assert all(m.aggregate_by == 'patient_id' for m in cfg.val_evaluator)


@pytest.mark.parametrize('name', CONFIGS)
def test_prompt_classes_come_from_the_config(name):
    """tools/misc/extract_prompt_embeddings.py reads classes + prompt words
    from the config without any data on disk."""
    path = osp.join(REPO, 'tools', 'misc', 'extract_prompt_embeddings.py')
    spec = importlib.util.spec_from_file_location('extract_prompt', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    classes, prompt_names = mod.classes_from_config(
        Config.fromfile(config_path(name)))
    assert list(classes) == list(DATASETS[dataset_of(name)]['classes'])
    assert len(prompt_names) == len(classes)
    if dataset_of(name) == 'odir':
        assert prompt_names[0] == 'normal'


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
def test_two_iterations_and_validation(name, data, tmp_path):
    torch.manual_seed(0)
    cfg = tiny_cfg(name, data, str(tmp_path / 'work'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert type(runner.train_dataloader.dataset).__name__ == \
        DATASETS[dataset_of(name)]['type']
    val = val_scalars(runner)
    for k in ('auc/mean', 'mAP/mean', 'mACC/mean', 'bACC/mean', 'auc/head',
              'auc/tail'):
        assert k in val, sorted(val)
    assert 0 <= val['mACC/mean'] <= 1
    best = 'odir/final' if dataset_of(name) == 'odir' else 'auc/mean'
    assert best in val
    if not math.isnan(val[best]):
        ckpt = osp.join(cfg.work_dir,
                        f'best_{best.replace("/", "_")}_epoch_1.pth')
        assert osp.isfile(ckpt)


CHILD = '''_base_ = [{base!r}]
# MMPretrain's own MultiLabelDataset JSON (here: the converter's output)
data_root = {root!r}
train_dataloader = dict(dataset=dict(
    _delete_=True, type='MultiLabelDataset', data_root=data_root,
    ann_file='annotations/train.json', pipeline={{{{_base_.train_pipeline}}}}))
val_dataloader = dict(dataset=dict(
    _delete_=True, type='MultiLabelDataset', data_root=data_root,
    ann_file='annotations/val.json', pipeline={{{{_base_.test_pipeline}}}}))
test_dataloader = dict(dataset=dict(
    _delete_=True, type='MultiLabelDataset', data_root=data_root,
    ann_file='annotations/test.json', pipeline={{{{_base_.test_pipeline}}}}))
'''


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
def test_multilabeldataset_json_by_inheritance(name, data, tmp_path,
                                               capsys):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS as REG
    d = data[dataset_of(name)]
    child = tmp_path / 'child.py'
    child.write_text(CHILD.format(base=config_path(name), root=d['root']))
    cfg = tiny_cfg(name, data, str(tmp_path / 'work'), str(child))
    init_default_scope('mmpretrain')
    for key in ('train_dataloader', 'val_dataloader'):
        ds = REG.build(cfg[key].dataset)
        assert type(ds).__name__ == 'MultiLabelDataset'
        assert list(ds.metainfo['classes']) == list(
            DATASETS[dataset_of(name)]['classes'])
        assert ds.metainfo['head_classes']
        assert ds[0]['inputs'].shape[0] == 3
    # ODIR's per-patient metrics need patient_id from the JSON: evaluate a
    # checkpoint with tools/test.py on it (per-class tables, --out)
    if name != 'ldr_r50_odir_stage1':
        return
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    dumped = str(tmp_path / 'dumped.py')
    cfg.dump(dumped)
    spec = importlib.util.spec_from_file_location(
        'ldr_test_tool', osp.join(REPO, 'tools', 'test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out_csv = str(tmp_path / 'scores.csv')
    metrics = tool.main([dumped, ckpt, '--work-dir', str(tmp_path / 't'),
                         '--out', out_csv])
    printed = capsys.readouterr().out
    assert 'odir/class/N/final' in metrics and 'mACC/class/N' in metrics
    test_set = REG.build(cfg.test_dataloader.dataset)
    n_patients = len({test_set.get_data_info(i)['patient_id']
                      for i in range(len(test_set))})
    assert f'scored per patient_id: {n_patients}' in printed
    assert 'ODIR-2019 official score' in printed
    for col in ('AUC', 'AP', 'ACC', 'bACC', 'Kappa', 'Final'):
        assert col in printed
    with open(out_csv) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith('img_path,score/N')
    assert len(lines) == len(test_set) + 1
