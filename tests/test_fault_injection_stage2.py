"""Fault injection in stage 2, through tools/train.py in a subprocess.

SIGKILL inside the statistics pass and inside the M-step (the two places a
stage-2 round spends outside MMEngine's own loop), then ``--resume``: the
run ends with bit-identical weights, optimiser and hook state. A class with
no positive training sample and all-negative batches: stage 2 runs, warns,
and produces no NaN.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

from stage2_helpers import (REPO, make_stage1_checkpoint, stage2_cfg,
                            stage2_root)
from test_stage2_resume import assert_same

__all__ = ['stage2_root']

KILLERS = '''
import os
import signal

from ldr_mm.reconstruction import statistics, sampler

_calls = {'update': 0, 'sample': 0}
_where, _at = os.environ.get('LDR_KILL_IN', ''), \\
    int(os.environ.get('LDR_KILL_AT', '0'))


def _wrap(cls, name, key):
    orig = getattr(cls, name)

    def wrapped(*args, **kwargs):
        _calls[key] += 1
        if _where == key and _calls[key] == _at:
            os.kill(os.getpid(), signal.SIGKILL)
        return orig(*args, **kwargs)
    setattr(cls, name, wrapped)


_wrap(statistics.GaussianAccumulator, 'update', 'update')
_wrap(sampler.ReverseSampler, 'sample', 'sample')
'''


def run_train(cfg_path, tmp_path, *args, env=None):
    full_env = dict(os.environ, OMP_NUM_THREADS='1',
                    PYTHONPATH=str(tmp_path) + os.pathsep +
                    os.environ.get('PYTHONPATH', ''))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg_path,
         *args], env=full_env, capture_output=True, text=True, timeout=600)


def dump_cfg(cfg, tmp_path, name):
    (tmp_path / 'ldr_killers.py').write_text(KILLERS)
    cfg.custom_imports = dict(imports=['ldr_mm', 'ldr_killers'],
                              allow_failed_imports=False)
    path = str(tmp_path / name)
    cfg.dump(path)
    return path


def load(path):
    return torch.load(path, weights_only=True, map_location='cpu')


# 'sgd': the kill points inside the M-step need the sampling solver (the
# recommended default 'lda' draws no sample)
KW = dict(e_iters=2, rounds=2, m_iters=4, ckpt_interval=1, m_solver='sgd')


@pytest.fixture(scope='module')
def uninterrupted(stage2_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('s2full')
    work = str(tmp / 'work')
    cfg = dump_cfg(stage2_cfg(stage2_root, work, **KW), tmp, 'full.py')
    res = run_train(cfg, tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    return load(osp.join(work, 'iter_4.pth'))


# 48 training images in batches of 8: 6 accumulator updates per statistics
# pass; 4 M-step samples per round. Round 2 starts at iteration 3.
@pytest.mark.parametrize('where, at', [
    ('update', 3),   # in the middle of round 1's statistics pass
    ('update', 9),   # in the middle of round 2's statistics pass
    ('sample', 2),   # in the middle of round 1's M-step
    ('sample', 7),   # in the middle of round 2's M-step
])
@pytest.mark.slow
def test_sigkill_in_stage2_then_resume(stage2_root, tmp_path, uninterrupted,
                                       where, at):
    work = str(tmp_path / 'work')
    cfg = dump_cfg(stage2_cfg(stage2_root, work, **KW), tmp_path, 'c.py')
    res = run_train(cfg, tmp_path, env=dict(LDR_KILL_IN=where,
                                            LDR_KILL_AT=str(at)))
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert not osp.exists(osp.join(work, 'iter_4.pth'))
    # no half-written statistics file is left under its final name
    rec = osp.join(work, 'reconstruction')
    if osp.isdir(rec):
        for f in os.listdir(rec):
            if f.endswith('.pth'):
                load(osp.join(rec, f))  # complete and loadable
    res = run_train(cfg, tmp_path, '--resume')
    assert res.returncode == 0, res.stderr[-3000:]
    out = load(osp.join(work, 'iter_4.pth'))
    for key in ('state_dict', 'optimizer', 'ldr_reconstruction'):
        assert_same(uninterrupted[key], out[key], key)


@pytest.mark.slow
def test_class_without_positives_and_all_negative_batches(stage2_root,
                                                          tmp_path):
    """'cavity' has no positive training image; the first batches have no
    positive label at all. Stage 2 warns, samples no cavity positives, and
    every loss, weight and metric stays finite."""
    import shutil
    root = str(tmp_path / 'data')
    shutil.copytree(stage2_root, root)
    ann = osp.join(root, 'train.json')
    data = json.load(open(ann))
    cavity = data['metainfo']['classes'].index('cavity')
    for d in data['data_list']:
        d['gt_label'] = [c for c in d['gt_label'] if c != cavity]
    for d in data['data_list'][:16]:  # two all-negative batches of 8
        d['gt_label'] = []
    json.dump(data, open(ann, 'w'))
    make_stage1_checkpoint(root, osp.join(root, 'stage1.pth'))

    work = str(tmp_path / 'work')
    cfg = stage2_cfg(root, work, e_iters=2, rounds=2, m_iters=4)
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    path = str(tmp_path / 'c.py')
    cfg.dump(path)
    res = run_train(path, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert 'cavity' in log and 'no positive' in log.lower(), log[-3000:]
    ck = load(osp.join(work, 'iter_4.pth'))
    for k, v in ck['state_dict'].items():
        if v.is_floating_point():
            assert torch.isfinite(v).all(), k
    stats = load(osp.join(work, 'reconstruction', 'stats_round2.pth'))
    assert int(stats['counts'][cavity, 1]) == 0
    losses = [json.loads(line) for line in open(osp.join(
        work, sorted(d for d in os.listdir(work) if d[:2] == '20')[-1],
        'vis_data', 'scalars.json'))]
    vals = [r[k] for r in losses for k in ('loss', 'm_loss', 'auc/mean')
            if k in r]
    assert vals and all(v == v and abs(v) != float('inf') for v in vals)
