"""LDR stage 2 on a CSRA stage 1: CSRANeck, CSRAStage2Classifier, config."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpretrain.models.heads import CSRAClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from stage2_helpers import (REPO, build_runner, short_em_schedule,
                            train_two_iterations)
from conftest import TINY_BACKBONE, TINY_SIZE, TINY_SPLITS, dataloader_options

from ldr_mm.models import (CSRANeck, LDRHead, Stage1CheckpointError,
                           csra_to_stage2_state)

CSRA_CFG = osp.join(REPO, 'configs', 'baselines', 'csra_r18_demo.py')
STAGE2_CFG = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage2_csra.py')


@pytest.mark.parametrize('num_heads', [1, 2, 4])
@pytest.mark.parametrize('features', ['concat', 'sum'])
def test_neck_and_group_head_reproduce_csra_logits(num_heads, features):
    """<csra_head_weight, CSRANeck features> equals CSRAClsHead's logits
    (softmax and max-pooling heads), so stage 2 starts from CSRA exactly."""
    torch.manual_seed(0)
    C, D = 5, 12
    csra = CSRAClsHead(num_classes=C, in_channels=D, num_heads=num_heads,
                       lam=0.3)
    for p in csra.parameters():
        p.data.normal_()
    neck = CSRANeck(C, D, num_heads=num_heads, lam=0.3, features=features)
    neck.load_state_dict(csra.state_dict())  # the same parameter names
    x = torch.randn(3, D, 4, 5)
    feats = neck((x, ))[0]
    n = num_heads + 1 if features == 'concat' else num_heads
    assert feats.shape == (3, C, n * D) and neck.out_channels == n * D
    head = LDRHead(num_classes=C, in_channels=neck.out_channels)
    head.weight.data.copy_(neck.csra_head_weight())
    head.bias.data.zero_()
    torch.testing.assert_close(head((feats, )), csra((x, )),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_heads=3), 'num_heads must be one of'),
    (dict(lam=0.0), 'lam must be > 0'),
    (dict(features='max'), "features must be one of"),
])
def test_neck_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CSRANeck(4, 8, **kwargs)


def _tiny(cfg_path, root, work_dir):
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'model.backbone': TINY_BACKBONE,
        'model.head.in_channels': 64,
        'default_hooks.logger.interval': 1,
        **dataloader_options(dict(data_root=root, splits=TINY_SPLITS,
                                  image_size=TINY_SIZE), 8, 0)})
    return cfg


@pytest.fixture(scope='module')
def csra_stage1(tmp_path_factory):
    """Tiny demo data and a CSRA stage-1 checkpoint trained 2 iterations
    through the runner (the suite's chain: csra_r18_demo -> stage 2)."""
    from ldr_mm.datasets.demo import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('csra_s2'))
    generate_demo_dataset(root, seed=0, splits=TINY_SPLITS, size=TINY_SIZE)
    return root, train_two_iterations(
        _tiny(CSRA_CFG, root, osp.join(root, 'stage1')))


def _stage2_cfg(root, ckpt, work_dir, rounds=1, e_iters=2):
    return short_em_schedule(_tiny(STAGE2_CFG, root, work_dir), ckpt,
                             rounds, e_iters)


def _stage1_model(root, ckpt):
    init_default_scope('mmpretrain')
    cfg = _tiny(CSRA_CFG, root, 'unused')
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(model_cfg)
    model.load_state_dict(torch.load(ckpt, weights_only=True)['state_dict'])
    return model.eval()


def test_stage2_model_starts_as_the_csra_model(csra_stage1, tmp_path):
    """Built by the runner from the stage-2 config, after init_weights the
    model scores every image exactly as the CSRA checkpoint does."""
    root, ckpt = csra_stage1
    runner = build_runner(_stage2_cfg(root, ckpt, str(tmp_path)))
    model = runner.model
    assert type(model).__name__ == 'CSRAStage2Classifier'
    assert type(model.neck).__name__ == 'CSRANeck'
    model.init_weights()
    model.eval()
    ref = _stage1_model(root, ckpt)
    x = torch.randn(4, 3, TINY_SIZE, TINY_SIZE)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'),
                                   ref(x, mode='tensor'),
                                   rtol=1e-4, atol=1e-5)
    assert not any(p.requires_grad for p in model.head.parameters())


def test_stage2_trains_through_the_runner(csra_stage1, tmp_path):
    """tools/train.py's path: the EM loop runs a round (statistics of the
    CSRA class features, LDA-blend M-step, E-step on the attention and
    backbone), changes the head and validates."""
    root, ckpt = csra_stage1
    runner = build_runner(_stage2_cfg(root, ckpt, str(tmp_path)))
    runner.train()
    model = runner.model
    state = torch.load(ckpt, weights_only=True)['state_dict']
    start = csra_to_stage2_state(state, model)
    assert not torch.allclose(model.head.weight, start['head.weight'])
    assert not torch.equal(model.neck.csra_heads[0].head.weight,
                           start['neck.csra_heads.0.head.weight'])
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
    with torch.no_grad():
        out = model.predict(torch.randn(2, 3, TINY_SIZE, TINY_SIZE),
                            [DataSample(), DataSample()])
    assert out[0].pred_score.shape == (10, )


def test_ldr_stage1_checkpoint_is_refused_by_name(csra_stage1, tmp_path):
    """A checkpoint without CSRA weights: a one-line error that names the
    file and the classifier to use instead."""
    root, _ = csra_stage1
    from stage2_helpers import make_stage1_checkpoint, write_prompt
    write_prompt(osp.join(root, 'prompt.pth'))
    ldr = make_stage1_checkpoint(root, osp.join(root, 'ldr_stage1.pth'))
    runner = build_runner(_stage2_cfg(root, ldr, str(tmp_path)))
    with pytest.raises(Stage1CheckpointError,
                       match='no CSRAClsHead weights') as e:
        runner.model.init_weights()
    msg = str(e.value)
    assert f'"{ldr}"' in msg and 'LDRStage2Classifier' in msg
    assert '\n' not in msg


def test_stage2_config_resolves_to_csra_stage1_and_ldr_em():
    cfg = Config.fromfile(STAGE2_CFG)
    base = Config.fromfile(CSRA_CFG)
    assert cfg.model.type == 'CSRAStage2Classifier'
    assert cfg.model.backbone == base.model.backbone
    for key in ('num_classes', 'in_channels', 'num_heads', 'lam'):
        assert cfg.model.head[key] == base.model.head[key]
    assert cfg.model.head.loss.type == 'MultiLabelGCELoss'
    assert cfg.train_cfg.type == 'EMTrainLoop'
    assert cfg.train_cfg.m_solver == dict(type='lda', blend=0.5)


#: the datasets with a csra_r50 baseline (chexpert, mimic: U-Ignore masks)
MEDICAL = ('nih', 'odir', 'spa', 'chexpert', 'mimic')


def _ldrnet(name):
    return osp.join(REPO, 'configs', 'ldrnet', f'{name}.py')


@pytest.mark.parametrize('ds', MEDICAL)
def test_medical_csra_stage2_leaf_resolves_and_builds(ds):
    """ldr_r50_<ds>_stage2_csra.py: a short leaf over the CSRA baseline and
    ldr_em.py with the LDR stage 2's schedule on that dataset; its model
    (random init, no download) gives the 'concat' class features (B, C,
    2 x 2048) that the group-wise head takes."""
    path = _ldrnet(f'ldr_r50_{ds}_stage2_csra')
    code = [ln for ln in open(path).read().splitlines()
            if ln.strip() and not ln.strip().startswith('#')]
    assert len(code) <= 8, code
    cfg = Config.fromfile(path)
    csra = Config.fromfile(osp.join(REPO, 'configs', 'baselines',
                                    f'csra_r50_{ds}.py'))
    ldr = Config.fromfile(_ldrnet(f'ldr_r50_{ds}_stage2'))
    assert cfg.model.type == 'CSRAStage2Classifier'
    assert cfg.model.features == 'concat'
    assert cfg.model.backbone == csra.model.backbone
    for key in ('num_classes', 'in_channels', 'num_heads', 'lam'):
        assert cfg.model.head[key] == csra.model.head[key]
    assert cfg.model.head.loss == ldr.model.head.loss  # GCE, the E-step
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                'default_hooks'):
        assert cfg[key] == csra[key], key  # stage 1's data and save_best
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler',
                'log_processor'):
        assert cfg[key] == ldr[key], key  # the medical stage-2 schedule

    init_default_scope('mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # no ImageNet download
    model_cfg.data_preprocessor = cfg.data_preprocessor
    model = MODELS.build(model_cfg).eval()
    C = csra.model.head.num_classes
    assert type(model.neck).__name__ == 'CSRANeck'
    assert model.neck.out_channels == model.head.in_channels == 2 * 2048
    assert model.head.num_classes == C
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 64))
    assert feats[0].shape == (1, C, 2 * 2048)
