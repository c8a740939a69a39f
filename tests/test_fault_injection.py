"""Fault injection: crashes, NaN losses and bad input, through the runner.

Each test runs the real tools/train.py on tiny data and asserts the exact
outcome (same weights after a kill and --resume, the error names the
iteration/file/class, no half-written file).
"""
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

from conftest import REPO, load_tiny_cfg

FAULT_HOOKS = '''
import os
import signal

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class KillAt(Hook):
    """SIGKILL this process at a chosen point of training (test only)."""
    priority = 'LOWEST'

    def __init__(self, point, iteration):
        self.point, self.iteration = point, iteration

    def _maybe_kill(self, runner, point):
        if point == self.point and runner.iter == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._maybe_kill(runner, 'before_iter')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        # runner.iter is not yet incremented here
        self._maybe_kill(runner, 'after_iter')

    def before_save_checkpoint(self, runner, checkpoint):
        self._maybe_kill(runner, 'saving_checkpoint')
        if self.point == 'mid_checkpoint_write' and \
                runner.iter == self.iteration:
            # die after the bytes are written, before the file is complete
            import ldr_mm.utils.fileio as fileio

            def die(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGKILL)
            fileio.os.replace = die

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx == 1:
            self._maybe_kill(runner, 'validating')


@HOOKS.register_module()
class PoisonWeights(Hook):
    """Make the backbone output NaN from a given iteration (test only)."""
    priority = 'LOWEST'

    def __init__(self, iteration):
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.iteration:
            model = runner.model.module if hasattr(runner.model, 'module') \\
                else runner.model
            with torch.no_grad():
                model.backbone.conv1.weight.fill_(float('nan'))
'''


def write_cfg(tmp_path, demo_root, work, extra_hooks=(), **kw):
    (tmp_path / 'fault_hooks.py').write_text(FAULT_HOOKS)
    cfg = load_tiny_cfg(demo_root, work, **kw)
    cfg.custom_imports = dict(imports=['ldr_mm', 'fault_hooks'],
                              allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + list(extra_hooks)
    path = str(tmp_path / f'cfg_{len(os.listdir(tmp_path))}.py')
    cfg.dump(path)
    return path


def train(cfg, tmp_path, *args, check=True):
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep +
               os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    res = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg, *args],
        env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


def final_state(work, it):
    return torch.load(osp.join(work, f'iter_{it}.pth'),
                      weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def uninterrupted(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('full')
    work = str(tmp / 'work')
    train(write_cfg(tmp, demo_root, work, max_iters=6, val_interval=2,
                    ckpt_interval=2), tmp)
    return final_state(work, 6)


@pytest.mark.parametrize('point, iteration', [
    ('before_iter', 3),        # between checkpoints
    ('after_iter', 4),         # after the update, before the checkpoint
    # runner.iter is 3 while iteration 4 saves iter_4.pth, and 4 while the
    # validation after it saves best_auc_mean_iter_4.pth
    ('saving_checkpoint', 3),  # as iter_4.pth is about to be written
    ('mid_checkpoint_write', 3),  # while iter_4.pth's bytes are written
    ('mid_checkpoint_write', 4),  # while the best checkpoint is written
    ('validating', 4),         # in the middle of validation
])
@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_weights(demo_root, tmp_path,
                                                    uninterrupted, point,
                                                    iteration):
    work = str(tmp_path / 'work')
    kw = dict(max_iters=6, val_interval=2, ckpt_interval=2)
    killed = write_cfg(tmp_path, demo_root, work, extra_hooks=[
        dict(type='KillAt', point=point, iteration=iteration)], **kw)
    res = train(killed, tmp_path, check=False)
    assert res.returncode == -signal.SIGKILL
    assert not osp.exists(osp.join(work, 'iter_6.pth'))
    if point in ('saving_checkpoint', 'mid_checkpoint_write'):
        # the checkpoint being written is absent, never half-written
        name = 'iter_4.pth' if iteration == 3 else \
            'best_auc_mean_iter_4.pth'
        assert not osp.exists(osp.join(work, name))
    clean = write_cfg(tmp_path, demo_root, work, **kw)
    train(clean, tmp_path, '--resume')
    resumed = final_state(work, 6)
    for k, v in uninterrupted.items():
        assert torch.equal(v, resumed[k]), k


@pytest.mark.slow
def test_nan_loss_stops_with_the_iteration(demo_root, tmp_path):
    work = str(tmp_path / 'work')
    cfg = write_cfg(tmp_path, demo_root, work, extra_hooks=[
        dict(type='PoisonWeights', iteration=2)], max_iters=6,
        val_interval=100, ckpt_interval=1)
    res = train(cfg, tmp_path, check=False)
    assert res.returncode != 0
    assert 'NonFiniteLossError: Non-finite loss at iteration 3' in res.stderr
    assert 'loss=nan' in res.stderr
    assert 'iter_2.pth' in res.stderr  # where to resume from
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert not osp.exists(osp.join(work, 'iter_3.pth'))
