"""LDR stage 2 on a Query2Label stage 1: Query2LabelNeck,
Query2LabelStage2Classifier, the configs and the suite's chain."""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from stage2_helpers import (REPO, build_runner, short_em_schedule,
                            train_two_iterations)
from conftest import TINY_BACKBONE, TINY_SIZE, TINY_SPLITS, dataloader_options

from ldr_mm.models import (LDRHead, Query2LabelHead, Query2LabelNeck,
                           Stage1CheckpointError, q2l_to_stage2_state)

Q2L_CFG = osp.join(REPO, 'configs', 'baselines', 'q2l_r18_demo.py')
STAGE2_CFG = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage2_q2l.py')
DECODER = dict(embed_dims=16, num_heads=4, num_layers=2,
               num_encoder_layers=1)


@pytest.mark.parametrize('kwargs', [
    DECODER,
    dict(num_heads=4),  # embed_dims = in_channels: no projection
    dict(num_heads=4, pos_encoding='none'),
])
def test_neck_features_and_group_head_are_the_q2l_head(kwargs):
    """Query2LabelNeck with the head's own parameters (same names) gives
    exactly Query2LabelHead.pre_logits, and LDRHead with the head's weight
    and bias exactly its logits (eval mode: no dropout)."""
    torch.manual_seed(0)
    C, D_in = 5, 32
    head = Query2LabelHead(num_classes=C, in_channels=D_in, **kwargs).eval()
    neck = Query2LabelNeck(num_classes=C, in_channels=D_in, **kwargs).eval()
    state = head.state_dict()
    w, b = state.pop('weight'), state.pop('bias')
    neck.load_state_dict(state)  # strict: every other name is the neck's
    x = (torch.randn(3, D_in, 4, 5), )
    feats = neck(x)[0]
    assert feats.shape == (3, C, neck.out_channels)
    assert neck.out_channels == neck.embed_dims == head.embed_dims
    assert torch.equal(feats, head.pre_logits(x))
    group = LDRHead(num_classes=C, in_channels=neck.out_channels)
    group.weight.data.copy_(w)
    group.bias.data.copy_(b)
    assert torch.equal(group((feats, )), head(x))


def _tiny(cfg_path, root, work_dir):
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'model.backbone': TINY_BACKBONE,
        'model.head.in_channels': 64,
        'model.head.embed_dims': 32,  # a projection to convert too
        'model.head.num_heads': 4,
        'default_hooks.logger.interval': 1,
        **dataloader_options(dict(data_root=root, splits=TINY_SPLITS,
                                  image_size=TINY_SIZE), 8, 0)})
    return cfg


@pytest.fixture(scope='module')
def q2l_stage1(tmp_path_factory):
    """Tiny demo data and a Query2Label stage-1 checkpoint trained 2
    iterations through the runner (the suite's chain: q2l_r18_demo ->
    stage 2)."""
    from ldr_mm.datasets.demo import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('q2l_s2'))
    generate_demo_dataset(root, seed=0, splits=TINY_SPLITS, size=TINY_SIZE)
    return root, train_two_iterations(
        _tiny(Q2L_CFG, root, osp.join(root, 'stage1')))


def _stage2_cfg(root, ckpt, work_dir, rounds=1, e_iters=2):
    return short_em_schedule(_tiny(STAGE2_CFG, root, work_dir), ckpt,
                             rounds, e_iters)


def _build(cfg):
    init_default_scope('mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    return MODELS.build(model_cfg)


def _stage1_model(root, ckpt):
    model = _build(_tiny(Q2L_CFG, root, 'unused'))
    model.load_state_dict(torch.load(ckpt, weights_only=True)['state_dict'])
    return model.eval()


def test_stage2_model_starts_as_the_q2l_model(q2l_stage1, tmp_path):
    """Built by the runner from the stage-2 config, after init_weights the
    model scores every image exactly as the Query2Label checkpoint does."""
    root, ckpt = q2l_stage1
    runner = build_runner(_stage2_cfg(root, ckpt, str(tmp_path)))
    model = runner.model
    assert type(model).__name__ == 'Query2LabelStage2Classifier'
    assert type(model.neck).__name__ == 'Query2LabelNeck'
    assert model.neck.embed_dims == model.head.in_channels == 32
    model.init_weights()
    model.eval()
    ref = _stage1_model(root, ckpt)
    x = torch.randn(4, 3, TINY_SIZE, TINY_SIZE)
    with torch.no_grad():
        assert torch.equal(model(x, mode='tensor'), ref(x, mode='tensor'))
    assert not any(p.requires_grad for p in model.head.parameters())
    assert all(p.requires_grad for p in model.neck.parameters())


def test_stage2_trains_through_the_runner(q2l_stage1, tmp_path):
    """tools/train.py's path: the EM loop runs a round (statistics of the
    decoded label queries, LDA-blend M-step, E-step on the decoder and
    backbone), changes the head and the decoder, and validates."""
    root, ckpt = q2l_stage1
    runner = build_runner(_stage2_cfg(root, ckpt, str(tmp_path)))
    runner.train()
    model = runner.model
    state = torch.load(ckpt, weights_only=True)['state_dict']
    start = q2l_to_stage2_state(state)
    assert not torch.allclose(model.head.weight, start['head.weight'])
    assert not torch.equal(model.neck.query_embed, start['neck.query_embed'])
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
    with torch.no_grad():
        out = model.predict(torch.randn(2, 3, TINY_SIZE, TINY_SIZE),
                            [DataSample(), DataSample()])
    assert out[0].pred_score.shape == (10, )


def _one_line_error(model, match):
    with pytest.raises(Stage1CheckpointError, match=match) as e:
        model.init_weights()
    assert '\n' not in str(e.value)
    return str(e.value)


def test_other_stage1_checkpoints_are_refused_by_name(q2l_stage1, tmp_path):
    """An LDR or a CSRA stage-1 checkpoint: a one-line error that names the
    file and the stage-2 classifier that fits it."""
    root, _ = q2l_stage1
    from stage2_helpers import make_stage1_checkpoint, write_prompt
    write_prompt(osp.join(root, 'prompt.pth'))
    ldr = make_stage1_checkpoint(root, osp.join(root, 'ldr_stage1.pth'))
    csra_cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'baselines', 'csra_r18_demo.py'))
    csra_cfg.merge_from_dict({'model.backbone': TINY_BACKBONE,
                              'model.head.in_channels': 64})
    csra = str(tmp_path / 'csra.pth')
    torch.save(dict(state_dict=_build(csra_cfg).state_dict()), csra)
    for path, other in ((ldr, 'LDRStage2Classifier'),
                        (csra, 'CSRAStage2Classifier')):
        model = _build(_stage2_cfg(root, path, str(tmp_path)))
        msg = _one_line_error(model, 'no Query2LabelHead weights')
        assert f'"{path}"' in msg and other in msg


def test_q2l_checkpoint_of_another_size_is_refused(q2l_stage1, tmp_path):
    """Strict loading: a stage 2 that builds another decoder (2 layers
    instead of the checkpoint's 1) names the checkpoint and the keys
    (load_strict's message: a line per kind of difference)."""
    root, ckpt = q2l_stage1
    cfg = _stage2_cfg(root, ckpt, str(tmp_path))
    cfg.merge_from_dict({'model.head.num_layers': 2})
    what = f'The Query2Label stage-1 checkpoint "{ckpt}"'
    with pytest.raises(Stage1CheckpointError, match=re.escape(what)) as e:
        _build(cfg).init_weights()
    assert 'neck.decoder.1.self_attn.in_proj_weight' in str(e.value)


@pytest.mark.parametrize('options, error, match', [
    ({'model.stage1_checkpoint': None}, ValueError,
     'Query2LabelStage2Classifier needs model.stage1_checkpoint'),
    ({'model.stage1_checkpoint': '/nonexistent/q2l.pth'}, FileNotFoundError,
     '"/nonexistent/q2l.pth" does not exist. Train stage 1 first'),
])
def test_missing_stage1_checkpoint_is_named(options, error, match,
                                            tmp_path):
    cfg = _stage2_cfg(str(tmp_path), 'unused', str(tmp_path))
    cfg.merge_from_dict(options)
    with pytest.raises(error, match=match):
        _build(cfg).init_weights()


def test_config_with_a_neck_or_without_the_head_settings_is_refused():
    cfg = Config.fromfile(STAGE2_CFG)
    cfg.model.neck = dict(type='LDRNeck')
    with pytest.raises(ValueError, match='remove model.neck'):
        _build(cfg)
    cfg = Config.fromfile(STAGE2_CFG)
    cfg.model.head.num_classes = None
    with pytest.raises(ValueError, match=r"Query2Label stage-1 settings "
                       r"\['num_classes'\]"):
        _build(cfg)


@pytest.mark.parametrize('bench', ['demo', 'mnistlt'])
def test_stage2_config_is_the_csra_recipe_on_the_q2l_stage1(bench):
    """ldr_r18_<bench>_stage2_q2l.py: the Query2Label baseline's backbone,
    head settings and data, GCE for the E-step, and the schedule of the
    CSRA stage 2 (rounds, E / M iterations, M-step, optimiser, hooks)."""
    ldr = osp.join(REPO, 'configs', 'ldrnet')
    cfg = Config.fromfile(osp.join(ldr, f'ldr_r18_{bench}_stage2_q2l.py'))
    csra = Config.fromfile(osp.join(ldr, f'ldr_r18_{bench}_stage2_csra.py'))
    base = Config.fromfile(osp.join(REPO, 'configs', 'baselines',
                                    f'q2l_r18_{bench}.py'))
    assert cfg.model.type == 'Query2LabelStage2Classifier'
    assert cfg.model.stage1_checkpoint == \
        f'work_dirs/q2l_r18_{bench}/epoch_12.pth'
    assert cfg.model.backbone == base.model.backbone
    head = {k: v for k, v in cfg.model.head.items() if k != 'loss'}
    assert head == {k: v for k, v in base.model.head.items() if k != 'loss'}
    assert cfg.model.head.loss == csra.model.head.loss  # GCE, the E-step
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler',
                'log_processor'):
        assert cfg[key] == csra[key], key
    assert cfg.default_hooks.logger == csra.default_hooks.logger
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key] == base[key], key


def test_suite_chains_the_q2l_stage2_to_the_q2l_baseline():
    """The demo / mnistlt presets list the Q2L stage 2 next to the CSRA
    one, each chained to its own benchmark's Query2Label baseline."""
    from benchmark import PRESETS, load_config, stage1_config_of
    for bench in ('demo', 'mnistlt'):
        rows = PRESETS[bench]
        path = f'configs/ldrnet/ldr_r18_{bench}_stage2_q2l.py'
        assert rows.index(path) == rows.index(
            f'configs/ldrnet/ldr_r18_{bench}_stage2_csra.py') + 1
        full = osp.join(REPO, path)
        assert stage1_config_of(full, load_config(full)) == osp.join(
            REPO, 'configs', 'baselines', f'q2l_r18_{bench}.py')
