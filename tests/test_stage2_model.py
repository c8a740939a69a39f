"""Stage-2 model and hook: stage-1 loading, what the M- and E-steps train."""
import copy
import json
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper

from ldr_mm.models.classifiers import Stage1CheckpointError
from ldr_mm.reconstruction import GaussianStatistics
from ldr_mm.utils.rng import preserved_global_rng
from stage2_helpers import (build_loop, build_model, build_runner, get_hook,
                            make_stage1_checkpoint, stage2_cfg, stage2_root,
                            write_prompt)

__all__ = ['stage2_root']  # the fixture


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def changed(before, model):
    return {k for k, v in model.named_parameters()
            if not torch.equal(before[k], v.detach())}


def test_head_frozen_at_construction_and_loads_stage1(stage2_root, tmp_path):
    cfg = stage2_cfg(stage2_root, str(tmp_path))
    model = build_model(cfg)
    assert model.head.loss_module.__class__.__name__ == 'MultiLabelGCELoss'
    assert not any(p.requires_grad for p in model.head.parameters())
    assert all(p.requires_grad for p in model.backbone.parameters())
    model.init_weights()
    ref = torch.load(osp.join(stage2_root, 'stage1.pth'),
                     weights_only=True)['state_dict']
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref[k]), k
    assert model.stage1_classes[0] == 'opacity'
    with model.classifier_trainable() as params:
        assert all(p.requires_grad for p in params)
    assert not any(p.requires_grad for p in model.head.parameters())


def test_stage1_checkpoint_errors(stage2_root, tmp_path):
    cfg = stage2_cfg(stage2_root, str(tmp_path))
    cases = {}
    # missing file
    cases['missing'] = str(tmp_path / 'nope.pth')
    # other feature width D
    cases['width'] = make_stage1_checkpoint(
        stage2_root, str(tmp_path / 'd.pth'),
        **{'model.neck.embed_dims': 16})
    # other class count C (and a matching 9-class prompt cache)
    classes9 = [f'c{i}' for i in range(9)]
    write_prompt(str(tmp_path / 'p9.pth'), classes=classes9)
    cases['classes'] = make_stage1_checkpoint(
        stage2_root, str(tmp_path / 'c.pth'), classes=classes9,
        **{'model.head.num_classes': 9,
           'model.neck.prompt_cache': str(tmp_path / 'p9.pth')})
    # other prompt length M
    write_prompt(str(tmp_path / 'p5.pth'), num_tokens=5)
    cases['prompt'] = make_stage1_checkpoint(
        stage2_root, str(tmp_path / 'm.pth'),
        **{'model.neck.prompt_cache': str(tmp_path / 'p5.pth')})
    # a key missing (e.g. a plain state dict of another model)
    sd = torch.load(osp.join(stage2_root, 'stage1.pth'),
                    weights_only=True)['state_dict']
    sd.pop('neck.label_embed')
    sd['extra.weight'] = torch.zeros(1)
    torch.save(sd, str(tmp_path / 'k.pth'))
    cases['keys'] = str(tmp_path / 'k.pth')

    expect = {
        'missing': (FileNotFoundError, 'does not exist'),
        'width': (Stage1CheckpointError, "'D': 16.*'D': 32"),
        'classes': (Stage1CheckpointError, "'C': 9.*'C': 10"),
        'prompt': (Stage1CheckpointError, "'M': 5.*'M': 7"),
        'keys': (Stage1CheckpointError,
                 'missing from the checkpoint.*neck.label_embed'),
    }
    for name, path in cases.items():
        model = build_model(stage2_cfg(stage2_root, str(tmp_path)))
        model.stage1_checkpoint = path
        err, pattern = expect[name]
        with pytest.raises(err, match='(?s)' + pattern):
            model.init_weights()
    model.stage1_checkpoint = None
    with pytest.raises(ValueError, match='stage1_checkpoint'):
        model.init_weights()
    del cfg


def test_class_names_must_match_before_training(stage2_root, tmp_path):
    other = [f'x{i}' for i in range(10)]
    path = make_stage1_checkpoint(stage2_root, str(tmp_path / 'o.pth'),
                                  classes=other)
    cfg = stage2_cfg(stage2_root, str(tmp_path / 'w'))
    cfg.model.stage1_checkpoint = path
    runner = build_runner(cfg)
    with pytest.raises(ValueError, match="classes \\['x0'"):
        runner.train()
    assert not osp.exists(osp.join(str(tmp_path / 'w'), 'reconstruction'))


def test_m_step_changes_only_the_classifier(stage2_root, tmp_path):
    # the sampling solver, whose loss history the end of the test reads
    cfg = stage2_cfg(stage2_root, str(tmp_path), m_iters=5, m_solver='sgd')
    runner = build_runner(cfg)
    loop = build_loop(runner)  # the loop runs the rounds
    get_hook(runner, 'GaussianReconstructionHook').before_run(runner)
    model = runner.model
    model.init_weights()
    before = snapshot(model)
    buffers = {k: v.clone() for k, v in model.state_dict().items()
               if k not in before}
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(),
           random.getstate())
    with preserved_global_rng():  # as EMTrainLoop.run_iter calls it
        loop.run_round(0)  # iteration 0: statistics + M-step
    # the global random streams of training are untouched
    assert torch.equal(rng[0], torch.get_rng_state())
    assert np.array_equal(rng[1], np.random.get_state()[1])
    assert rng[2] == random.getstate()
    assert loop.round_done == 0
    assert changed(before, model) == {'head.weight', 'head.bias'}
    for k, v in buffers.items():  # eval-mode pass: BN statistics unchanged
        assert torch.equal(v, model.state_dict()[k]), k
    assert not any(p.requires_grad for p in model.head.parameters())
    assert all(p.grad is None for p in model.parameters())
    assert model.training
    # the round's statistics were written and describe the training set
    st = GaussianStatistics.load(
        osp.join(str(tmp_path), 'reconstruction', 'stats_round1.pth'))  # 1-based, as logged
    with open(osp.join(stage2_root, 'train.json')) as f:
        ann = json.load(f)['data_list']
    labels = torch.zeros(10, dtype=torch.long)
    for item in ann:  # from the annotation file itself
        labels[item['gt_label']] += 1
    assert torch.equal(st.counts[:, 1], labels)
    assert st.num_samples == 48
    assert st.extra['round'] == 1 and len(st.extra['sampling_probability'])
    assert loop.history[0]['m_loss_last'] is not None


def test_e_step_changes_only_backbone_and_neck(stage2_root, tmp_path):
    cfg = stage2_cfg(stage2_root, str(tmp_path))
    model = build_model(cfg)
    model.init_weights()
    model.train()
    # the runner's optimiser, as the runner builds it (the frozen head's
    # parameters may be in it: they never get a gradient, so it skips them)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    from mmengine.dataset import pseudo_collate
    from mmpretrain.registry import DATASETS
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([ds[i] for i in range(8)])
    before = snapshot(model)
    # gradient reaches the encoder through the frozen head
    data = model.data_preprocessor(batch, True)
    loss = model(**data, mode='loss')['loss']
    loss.backward()
    assert model.neck.label_embed.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.head.weight.grad is None
    optim.zero_grad()
    model.train_step(batch, optim)
    diff = changed(before, model)
    assert not any(k.startswith('head.') for k in diff)
    assert any(k.startswith('backbone.') for k in diff)
    assert any(k.startswith('neck.') for k in diff)


def test_hook_config_errors(stage2_root, tmp_path):
    from mmpretrain.registry import HOOKS
    runner = build_runner(stage2_cfg(stage2_root, str(tmp_path)))
    with pytest.raises(ValueError, match='e_iters'):
        runner.build_train_loop(dict(runner.cfg.train_cfg, e_iters=0))
    with pytest.raises(ValueError, match='stats_dataloader'):
        runner.build_train_loop(dict(runner.cfg.train_cfg,
                                     stats_dataloader=dict(shuffle=True)))
    with pytest.raises(ValueError, match='m_solver'):
        runner.build_train_loop(dict(runner.cfg.train_cfg, m_solver='adam'))
    with pytest.raises(ValueError, match='no options'):
        runner.build_train_loop(
            dict(runner.cfg.train_cfg, m_solver=dict(type='lda', l2=1)))
    # the options of the old hook point to the loop
    with pytest.raises(TypeError, match='EMTrainLoop'):
        HOOKS.build(dict(type='GaussianReconstructionHook', e_iters=2))
    cfg = stage2_cfg(stage2_root, str(tmp_path), e_iters=2, rounds=2)
    cfg.train_cfg.max_iters = 5
    with pytest.raises(ValueError, match='not a multiple'):
        build_runner(cfg).train()
    # a config that lists the stage-2 hook but replaced the loop
    cfg = stage2_cfg(stage2_root, str(tmp_path))
    cfg.custom_hooks.append(dict(type='GaussianReconstructionHook'))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    with pytest.raises(TypeError, match="type='EMTrainLoop'"):
        build_runner(cfg).train()
    cfg = stage2_cfg(stage2_root, str(tmp_path))
    cfg.model.type = 'LDRClassifier'
    cfg.model.pop('stage1_checkpoint')
    with pytest.raises(TypeError, match='LDRStage2Classifier'):
        build_runner(cfg).train()


@pytest.mark.parametrize('listed', [False, True])
def test_loop_sets_up_its_hook_checkpoints_and_logs(stage2_root, tmp_path,
                                                     listed):
    """EMTrainLoop registers GaussianReconstructionHook once (also when a
    config still lists it), turns the stage-1 epoch-based CheckpointHook
    into one checkpoint every ``interval`` rounds and logs by iteration."""
    from mmengine.hooks import CheckpointHook, LoggerHook
    from ldr_mm.engine import GaussianReconstructionHook
    cfg = stage2_cfg(stage2_root, str(tmp_path), e_iters=3)
    assert 'GaussianReconstructionHook' not in [h.type
                                                for h in cfg.custom_hooks]
    assert cfg.default_hooks.checkpoint.get('by_epoch', True)
    if listed:
        cfg.custom_hooks.append(dict(type='GaussianReconstructionHook'))
        cfg.default_hooks.checkpoint.interval = 2  # rounds
    runner = build_runner(cfg)
    found = [h for h in runner.hooks
             if isinstance(h, GaussianReconstructionHook)]
    assert len(found) == int(listed)
    loop = build_loop(runner)
    found = [h for h in runner.hooks
             if isinstance(h, GaussianReconstructionHook)]
    assert len(found) == 1
    (ck, ) = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
    assert not ck.by_epoch and ck.filename_tmpl == 'iter_{}.pth'
    assert ck.interval == (2 if listed else 1) * loop.e_iters
    (logger, ) = [h for h in runner.hooks if isinstance(h, LoggerHook)]
    assert not logger.log_metric_by_epoch
    assert not runner.log_processor.by_epoch
    # an iteration-based checkpoint hook keeps its interval (iterations)
    cfg = stage2_cfg(stage2_root, str(tmp_path), e_iters=3, ckpt_interval=5)
    runner = build_runner(cfg)
    build_loop(runner)
    (ck, ) = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
    assert not ck.by_epoch and ck.interval == 5


def test_loop_state_of_the_previous_layout_still_resumes(stage2_root,
                                                         tmp_path):
    """Version-1 loop state (the 'sgd' optimiser and the 'lda' anchor at the
    top, before the solvers owned them) is handed to the solver."""
    anchor = (torch.randn(10, 32), torch.randn(10))
    for m_solver in ('sgd', dict(type='lda', blend=0.5)):
        runner = build_runner(stage2_cfg(stage2_root, str(tmp_path)))
        runner.cfg.train_cfg.m_solver = m_solver
        loop = runner.build_train_loop(runner.cfg.train_cfg)
        state = loop.state_dict()
        assert state['version'] == 2 and 'm_solver' in state
        sgd_state = None
        if m_solver == 'sgd':  # an optimiser state that differs from new
            sgd_state = copy.deepcopy(loop.m_solver.state_dict()
                                      ['optim_wrapper'])
            sgd_state['param_groups'][0]['lr'] = 0.123
        old = dict(state, version=1, m_optim_wrapper=sgd_state,
                   anchor_head=list(anchor))
        old.pop('m_solver')
        loop.load_state_dict(old)
        if m_solver == 'sgd':
            opt = loop.m_solver.optim_wrapper.optimizer
            assert opt.param_groups[0]['lr'] == 0.123
        else:
            for a, b in zip(loop.m_solver.anchor_head, anchor):
                assert torch.equal(a, b)
