"""Helpers for the stage-2 tests: tiny demo data, stage-1 checkpoints, configs.

Kept out of conftest.py (owned by the stage-1 tests); import explicitly.
"""
import os.path as osp
import random

import numpy as np
import pytest
import torch

import ldr_mm  # noqa: F401
from ldr_mm.datasets.demo import DEMO_CLASSES
from ldr_mm.reconstruction import GaussianStatistics

from conftest import (TINY_BACKBONE, TINY_SIZE,
                      TINY_SPLITS, dataloader_options, write_prompt_cache)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

STAGE1_CFG = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage1.py')
STAGE2_CFG = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage2.py')


def write_prompt(path, classes=DEMO_CLASSES, num_tokens=7, dims=16, seed=0):
    return write_prompt_cache(path, classes, num_tokens=num_tokens, dims=dims,
                              seed=seed)


@pytest.fixture(scope='module')
def stage2_root(tmp_path_factory):
    """Tiny demo data (48/16/16 images, 32x32), a prompt cache and a
    stage-1 checkpoint of the tiny model."""
    from ldr_mm.datasets.demo import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('ldr_s2'))
    generate_demo_dataset(root, seed=0, splits=TINY_SPLITS, size=TINY_SIZE)
    write_prompt(osp.join(root, 'prompt.pth'))
    make_stage1_checkpoint(root, osp.join(root, 'stage1.pth'))
    return root


def tiny_options(root, work_dir, batch_size=8, num_workers=0):
    data = dict(data_root=root, splits=TINY_SPLITS, image_size=TINY_SIZE)
    opts = {
        'work_dir': work_dir,
        'model.backbone': TINY_BACKBONE,
        'model.neck.in_channels': 64,
        'model.neck.embed_dims': 32,
        'model.neck.num_heads': 4,
        'model.neck.prompt_cache': osp.join(root, 'prompt.pth'),
        'default_hooks.logger.interval': 1,
    }
    opts.update(dataloader_options(data, batch_size, num_workers))
    return opts


def stage1_cfg(root, work_dir='unused'):
    from mmengine.config import Config
    cfg = Config.fromfile(STAGE1_CFG)
    cfg.merge_from_dict(tiny_options(root, work_dir))
    return cfg


def build_model(cfg):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    return MODELS.build(model_cfg)


def make_stage1_checkpoint(root, path, seed=0, classes=DEMO_CLASSES,
                           **cfg_options):
    """A stage-1 checkpoint of the tiny model as MMEngine saves it (random
    weights: stage 2's machinery does not care how good they are)."""
    cfg = stage1_cfg(root)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    torch.manual_seed(seed)
    model = build_model(cfg)
    model.init_weights()
    torch.save(
        dict(
            meta=dict(dataset_meta=dict(classes=list(classes))),
            state_dict=model.state_dict()), path)
    return path


#: (m_solver, calibration) cases of the exact-resume and DDP tests: every
#: M-step solver, the tail calibration and the weighted pooling of the
#: closed form
SOLVER_CASES = [
    ('sgd', None),
    pytest.param('lbfgs', None, marks=pytest.mark.slow),
    pytest.param('lda', None, marks=pytest.mark.slow),
    pytest.param('lda', dict(k=2, max_n=8), marks=pytest.mark.slow,
                 id='lda-calibration'),
    pytest.param(dict(type='lda', pooling='weighted'), None,
                 marks=pytest.mark.slow, id='lda-weighted'),
    # blends with the stage-1 head kept in the loop's checkpoint state
    pytest.param(dict(type='lda', blend=0.5), None,
                 marks=pytest.mark.slow, id='lda-blend'),
]


def stage2_cfg(root, work_dir, e_iters=2, rounds=2, m_iters=3,
               virtual_batch_size=16, ckpt_interval=None, val=True,
               **loop_options):
    """The demo stage-2 config shrunk to the tiny model and data."""
    from mmengine.config import Config
    cfg = Config.fromfile(STAGE2_CFG)
    opts = tiny_options(root, work_dir)
    opts.update({
        'model.stage1_checkpoint': osp.join(root, 'stage1.pth'),
        'train_cfg.rounds': rounds,
        'train_cfg.e_iters': e_iters,
        'train_cfg.m_iters': m_iters,
        'train_cfg.virtual_batch_size': virtual_batch_size,
        'default_hooks.checkpoint.max_keep_ckpts': 100,
    })
    if ckpt_interval:  # else one per round, as EMTrainLoop sets it up
        opts.update({'default_hooks.checkpoint.by_epoch': False,
                     'default_hooks.checkpoint.interval': ckpt_interval})
    cfg.merge_from_dict(opts)
    cfg.train_cfg.update(loop_options)
    if not val:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def build_runner(cfg):
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def train_two_iterations(cfg):
    """Train ``cfg`` (an attention-head stage 1) for 2 iterations through
    the runner and return its checkpoint ``<work_dir>/iter_2.pth``."""
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2,
                                        by_epoch=False)
    build_runner(cfg).train()
    return osp.join(cfg.work_dir, 'iter_2.pth')


def short_em_schedule(cfg, stage1_checkpoint, rounds=1, e_iters=2):
    """Shorten an attention-head stage-2 config's EM loop in place and point
    it at ``stage1_checkpoint``; returns ``cfg``."""
    cfg.merge_from_dict({
        'model.stage1_checkpoint': stage1_checkpoint,
        'train_cfg.rounds': rounds,
        'train_cfg.e_iters': e_iters,
        'train_cfg.virtual_batch_size': 16,
        'default_hooks.checkpoint.interval': e_iters,
    })
    return cfg


def build_loop(runner):
    """The runner's EMTrainLoop, built as ``Runner.train`` builds it."""
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    return runner.train_loop


def get_hook(runner, name='GaussianReconstructionHook'):
    return [h for h in runner.hooks if type(h).__name__ == name][0]


def round0_statistics(root, work, burn=0, **stats_dataloader):
    """Round-0 statistics of a fresh tiny stage-2 run (stage-1 weights);
    ``burn`` draws from the global RNGs first (as training would)."""
    runner = build_runner(stage2_cfg(
        root, work, stats_dataloader=stats_dataloader or None))
    loop = build_loop(runner)
    runner.model.init_weights()  # loads the stage-1 checkpoint, as train()
    get_hook(runner).before_run(runner)
    np.random.rand(burn), torch.rand(burn), [random.random()
                                             for _ in range(burn)]
    state = (np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    loop._estimate(0)
    assert np.array_equal(np.random.get_state()[1], state[0])
    assert torch.equal(torch.get_rng_state(), state[1])  # stream untouched
    return GaussianStatistics.load(
        osp.join(work, 'reconstruction', 'stats_round1.pth')), runner


def _register_dump_hook():
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper

    from mmpretrain.registry import HOOKS

    if 'DumpRankStateHook' in HOOKS.module_dict:
        return

    @HOOKS.register_module()
    class DumpRankStateHook(Hook):
        """Test hook: each rank saves its final weights (DDP tests)."""
        priority = 'LOWEST'

        def after_run(self, runner):
            from mmengine.dist import get_rank
            model = runner.model
            model = model.module if is_model_wrapper(model) else model
            torch.save(model.state_dict(),
                       osp.join(runner.work_dir, f'rank{get_rank()}.pth'))


_register_dump_hook()
