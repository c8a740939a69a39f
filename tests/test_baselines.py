"""The baseline configs (configs/baselines) and ClassFrequencyHook.

The end-to-end runs of every baseline config (train 2 iterations, validate,
test) are in tests/test_benchmark_suite.py, through the suite's smoke mode.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

import ldr_mm  # noqa: F401
from ldr_mm.engine.hooks import ClassFrequencyHook, dataset_class_frequencies

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOSSES = ('bce', 'focal', 'asl', 'twoway', 'ral', 'dbloss')
STEMS = ('r50_nih', 'r50_odir', 'r50_spa', 'r18_demo', 'r18_mnistlt')
#: The papers' / authors' default hyper-parameters (docs/baselines.md).
EXPECTED_LOSS = dict(
    bce=dict(type='CrossEntropyLoss', use_sigmoid=True),
    focal=dict(type='FocalLoss', gamma=2.0, alpha=0.25),
    asl=dict(type='AsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0, clip=0.05),
    twoway=dict(type='TwoWayMultiLabelLoss', tp=4.0, tn=1.0),
    ral=dict(type='RobustAsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0,
             clip=0.05, lamb=1.5, epsilon_pos=1.0, epsilon_pos_pow=-2.5,
             epsilon_neg=0.0),
    dbloss=dict(type='DistributionBalancedLoss', gamma=2.0, neg_scale=2.0,
                init_bias=0.05, map_alpha=0.1, map_beta=10.0, map_mu=0.2),
)
#: Everything but the model must equal the LDR stage-1 config's.
SAME_AS_LDR = ('train_dataloader', 'val_dataloader', 'test_dataloader',
               'val_evaluator', 'test_evaluator', 'data_preprocessor',
               'optim_wrapper', 'param_scheduler', 'train_cfg', 'val_cfg',
               'test_cfg', 'auto_scale_lr', 'randomness', 'default_hooks',
               'env_cfg', 'default_scope', 'custom_imports')


def baseline(loss, stem):
    return osp.join(REPO, 'configs', 'baselines', f'{loss}_{stem}.py')


def test_the_set_is_complete():
    found = {osp.basename(p)
             for p in glob.glob(osp.join(REPO, 'configs', 'baselines', '*'))}
    # the loss baselines and the attention heads (tests/test_attention_heads.py)
    want = {f'{name}_{stem}.py' for name in LOSSES + ('csra', 'q2l')
            for stem in STEMS}
    # U-Ignore data: the masked CSRA head (tests/test_masked_csra.py)
    want |= {'csra_r50_chexpert.py', 'csra_r50_mimic.py'}
    assert found == want


@pytest.mark.parametrize('stem', STEMS)
@pytest.mark.parametrize('loss', LOSSES)
def test_same_pipeline_and_schedule_as_ldr(loss, stem):
    cfg = Config.fromfile(baseline(loss, stem))
    ldr = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet',
                                   f'ldr_{stem}_stage1.py'))
    for key in SAME_AS_LDR:
        assert cfg.get(key) == ldr.get(key), key
    # the runtime's hooks (LDR's recommended DB loss adds its frequencies)
    runtime = [h for h in ldr.custom_hooks if h.type != 'ClassFrequencyHook']
    extra = [h for h in cfg.custom_hooks if h not in runtime]
    assert cfg.custom_hooks[:len(runtime)] == runtime
    assert extra == ([dict(type='ClassFrequencyHook')]
                     if loss == 'dbloss' else [])
    # same backbone, same classes; a linear multi-label head on pooled
    # features instead of the LDR neck and head
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone == ldr.model.backbone
    assert cfg.model.neck == dict(type='GlobalAveragePooling')
    head = cfg.model.head
    assert head.type == 'MultiLabelLinearClsHead'
    assert head.num_classes == ldr.model.head.num_classes
    assert head.in_channels == ldr.model.neck.in_channels
    assert head.loss == EXPECTED_LOSS[loss]


@pytest.mark.parametrize('loss', LOSSES)
def test_models_build_and_step(loss):
    """Each baseline model (demo backbone) builds and trains one step."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(baseline(loss, 'r18_demo'))
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.head.in_channels = 64
    if loss == 'dbloss':
        cfg.model.head.loss.update(class_counts=[9, 7, 5, 4, 3, 3, 2, 2, 1,
                                                 1], num_samples=20)
    model = MODELS.build(cfg.model)
    x = torch.randn(4, 3, 32, 32)
    samples = [DataSample().set_gt_label(lbl)
               for lbl in ([0, 4], [1], [], [2, 9])]
    loss_val = model.loss(x, samples)['loss']
    loss_val.backward()
    assert torch.isfinite(loss_val)
    assert model.head.fc.weight.grad.abs().sum() > 0
    pred = model.predict(x)
    assert pred[0].pred_score.shape == (10, )


def test_backbone_swap_by_inheritance(tmp_path):
    """A user swaps the backbone of any baseline with the d121 base."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    child = tmp_path / 'twoway_d121_spa.py'
    child.write_text(
        f"_base_ = [{baseline('twoway', 'r50_spa')!r}]\n"
        "model = dict(backbone=dict(_delete_=True, type='DenseNet', "
        "arch=dict(growth_rate=8, depths=[1, 1, 1, 1], init_channels=16), "
        "init_cfg=None), head=dict(in_channels=17))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.head.loss.type == 'TwoWayMultiLabelLoss'
    d121 = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'models',
                                    'baseline_d121.py'))
    assert (d121.model.backbone.type, d121.model.backbone.arch,
            d121.model.head.in_channels) == ('DenseNet', '121', 1024)
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert model.extract_feat(torch.randn(2, 3, 32, 32))[-1].shape == (2, 17)


class _Buf(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.got = None

    def set_class_frequencies(self, counts, n, classes=None, source=''):
        self.got = (np.asarray(counts).tolist(), n, list(classes), source)


class _Runner:

    def __init__(self, model, dataset):
        self.model = model
        self.train_dataloader = type('DL', (), dict(dataset=dataset))()


def test_class_frequency_hook_on_multilabel_json(tmp_path):
    """MMPretrain MultiLabelDataset (get_cat_ids) and the demo dataset."""
    from ldr_mm.datasets.demo import DEMO_CLASSES, LDRDemoDataset
    from ldr_mm.models.losses import DistributionBalancedLoss
    root = str(tmp_path / 'demo')
    ds = LDRDemoDataset(root, split='train', splits=dict(train=30),
                        image_size=16, pipeline=[])
    want = np.zeros(len(DEMO_CLASSES), dtype=int)
    for i in range(len(ds)):
        for c in set(ds.get_data_info(i)['gt_label']):
            want[c] += 1
    counts, n = dataset_class_frequencies(ds)
    assert n == 30 and counts.tolist() == want.tolist()

    loss = DistributionBalancedLoss()
    other = _Buf()
    model = torch.nn.ModuleDict(dict(loss=loss, other=other))
    ClassFrequencyHook().before_train(_Runner(model, ds))
    assert loss.class_counts.tolist() == want.tolist()
    assert loss.num_samples == 30
    assert other.got[:3] == (want.tolist(), 30, list(DEMO_CLASSES))
    assert 'LDRDemoDataset (30 samples)' in other.got[3]
    # counts given in the config are kept unless overwrite=True
    fixed = DistributionBalancedLoss(class_counts=[1] * 10, num_samples=5)
    ClassFrequencyHook().before_train(_Runner(fixed, ds))
    assert fixed.class_counts.tolist() == [1] * 10
    ClassFrequencyHook(overwrite=True).before_train(_Runner(fixed, ds))
    assert fixed.class_counts.tolist() == want.tolist()


def test_class_frequency_hook_medical_dataset_and_errors(tmp_path):
    """positive_counts() of the medical datasets; a class without positives
    in the training set is named."""
    from medical_helpers import make_axspa
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    from ldr_mm.models.losses import DistributionBalancedLoss
    root = str(tmp_path / 'spa')
    make_axspa(root)
    init_default_scope('mmpretrain')
    ds = DATASETS.build(dict(type='AxSpADataset', data_root=root,
                             split='train', pipeline=[]))
    counts, n = dataset_class_frequencies(ds)
    assert counts.tolist() == ds.label_matrix().sum(0).tolist()
    assert n == len(ds)
    zero = counts.copy()
    zero[3] = 0
    loss = DistributionBalancedLoss()
    with pytest.raises(ValueError, match=f"'{ds.metainfo['classes'][3]}': 0"):
        loss.set_class_frequencies(zero, n, classes=ds.metainfo['classes'])
