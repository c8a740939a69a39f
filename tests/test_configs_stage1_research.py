"""Research configs: the train-longer control and the paper-faithful leaves."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO, tiny_options

LDR = osp.join(REPO, 'configs', 'ldrnet')


def load(name):
    return Config.fromfile(osp.join(LDR, name))


def test_control_matches_stage1_model_and_stage2_schedule():
    ctl = load('ldr_r18_demo_stage1_longer.py')
    s1 = load('ldr_r18_demo_stage1.py')
    s2 = load('ldr_r18_demo_stage2.py')
    assert ctl.model == s1.model  # the stage-1 model, loss and all
    assert ctl.train_cfg.type == 'IterBasedTrainLoop'
    # as many real-image iterations as stage 2's E-steps
    assert ctl.train_cfg.max_iters == s2.rounds * s2.e_iters
    assert ctl.train_cfg.val_interval == s2.e_iters
    for key in ('optim_wrapper', 'param_scheduler', 'train_dataloader',
                'val_dataloader', 'val_evaluator', 'randomness'):
        assert ctl.get(key) == s2.get(key), key
    assert ctl.custom_hooks == s1.custom_hooks
    assert ctl.load_from == s2.model.stage1_checkpoint
    assert osp.normpath(osp.join(LDR, ctl.stage1_config)) == osp.join(
        LDR, 'ldr_r18_demo_stage1.py')


@pytest.mark.slow
def test_control_starts_from_stage1_and_trains_everything(demo_root,
                                                          tmp_path):
    from mmengine.runner import Runner
    s1 = load('ldr_r18_demo_stage1.py')
    s1.merge_from_dict(tiny_options(demo_root, str(tmp_path / 's1')))
    Runner.from_cfg(s1).train()
    ckpt = str(tmp_path / 's1' / 'iter_2.pth')
    start = torch.load(ckpt, weights_only=False)['state_dict']

    ctl = load('ldr_r18_demo_stage1_longer.py')
    opts = tiny_options(demo_root, str(tmp_path / 'ctl'))
    for k in ('train_cfg', 'param_scheduler'):  # keep the control's
        opts.pop(k)
    opts['train_cfg.max_iters'] = 2
    opts['train_cfg.val_interval'] = 2
    opts['load_from'] = ckpt
    ctl.merge_from_dict(opts)
    runner = Runner.from_cfg(ctl)
    runner.train()
    end = runner.model.state_dict()
    assert runner.iter == 2
    # started from the checkpoint: 2 Adam steps of lr 1e-5 move each weight
    # by about 2e-5 (a fresh initialisation would differ by ~0.1)
    for k, v in start.items():
        if v.is_floating_point() and 'running_' not in k:
            assert (end[k] - v).abs().max() < 1e-3, k
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    # all parts train, the head included (stage 2 would freeze it)
    assert any(k.startswith('head.') for k in changed)
    assert any(k.startswith('neck.layers') for k in changed)
    assert any(k.startswith('backbone.') for k in changed)


def test_mnistlt_control_is_the_demo_control_on_mnistlt():
    ctl = load('ldr_r18_mnistlt_stage1_longer.py')
    demo = load('ldr_r18_demo_stage1_longer.py')
    s1 = load('ldr_r18_mnistlt_stage1.py')
    assert ctl.model == s1.model
    assert ctl.train_dataloader == s1.train_dataloader
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler',
                'custom_hooks'):
        assert ctl.get(key) == demo.get(key), key
    assert ctl.load_from == 'work_dirs/ldr_r18_mnistlt_stage1/epoch_12.pth'


@pytest.mark.parametrize('data', ['demo', 'mnistlt'])
def test_paper_leaves_undo_only_the_recommended_options(data):
    """The recommended configs differ from the paper's in three options
    only: the neck's GAP path ('concat') and the DB loss (with the hook that
    gives it the class frequencies) in stage 1, the M-step solver in stage
    2."""
    for stage in ('stage1', 'stage2'):
        rec = load(f'ldr_r18_{data}_{stage}.py')
        paper = load(f'ldr_r18_{data}_{stage}_paper.py')
        assert rec.model.neck.pop('gap_residual') == 'concat'
        assert paper.model.neck.pop('gap_residual') is False
        if stage == 'stage1':
            assert rec.model.head.pop('loss').type == \
                'DistributionBalancedLoss'
            assert paper.model.head.pop('loss') == dict(
                type='CrossEntropyLoss', use_sigmoid=True)
            assert rec.custom_hooks.pop(-1) == dict(type='ClassFrequencyHook')
        if stage == 'stage2':
            assert paper.model.pop('stage1_checkpoint') == \
                f'work_dirs/ldr_r18_{data}_stage1_paper/epoch_12.pth'
            rec.model.pop('stage1_checkpoint')
            assert paper.stage1_config == f'./ldr_r18_{data}_stage1_paper.py'
            assert rec.train_cfg.pop('m_solver') == dict(type='lda',
                                                         blend=0.5)
            assert paper.train_cfg.pop('m_solver') == 'sgd'
        assert paper.model == rec.model
        for key in ('train_dataloader', 'optim_wrapper', 'train_cfg',
                    'custom_hooks'):
            assert paper.get(key) == rec.get(key), key
