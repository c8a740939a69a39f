"""Stage 2 under DDP: 2 CPU (gloo) ranks through tools/train.py."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from ldr_mm.reconstruction import (build_statistics_dataloader,
                                   estimate_class_statistics,
                                   statistics_dataset)
from stage2_helpers import (REPO, SOLVER_CASES, build_model,
                            round0_statistics, stage2_cfg, stage2_root)

__all__ = ['stage2_root']


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _train_two_ranks(cfg, tmp_path):
    """tools/train.py on 2 gloo ranks; each rank dumps its final state."""
    cfg.custom_imports = dict(
        imports=['ldr_mm', 'stage2_helpers'], allow_failed_imports=False)
    cfg.custom_hooks.append(dict(type='DumpRankStateHook'))
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    # this checkout's ldr_mm, not an installed one (e.g. a worktree's)
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests')]),
               OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={_free_port()}',
         osp.join(REPO, 'tools', 'train.py'), cfg_path, '--launcher',
         'pytorch'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize('m_solver,calibration', SOLVER_CASES)
def test_two_ranks_train_stage2_consistently(stage2_root, tmp_path,
                                             m_solver, calibration):
    """The frozen head stays out of the DDP reducer, the M-step's manual
    gradient all-reduce keeps the classifier identical on both ranks, and
    the sharded statistics pass equals the single-process one."""
    work = str(tmp_path / 'ddp')
    cfg = stage2_cfg(stage2_root, work, e_iters=2, rounds=2, m_iters=3,
                     val=False, m_solver=m_solver, calibration=calibration)
    _train_two_ranks(cfg, tmp_path)

    r0 = torch.load(osp.join(work, 'rank0.pth'), weights_only=True)
    r1 = torch.load(osp.join(work, 'rank1.pth'), weights_only=True)
    for k in r0:
        if 'running_' in k or 'num_batches' in k:
            continue  # BN buffers are per rank (broadcast_buffers=False)
        assert torch.equal(r0[k], r1[k]), k
    s1 = torch.load(osp.join(stage2_root, 'stage1.pth'),
                    weights_only=True)['state_dict']
    assert not torch.equal(s1['head.weight'], r0['head.weight'])
    assert not torch.equal(s1['neck.label_embed'], r0['neck.label_embed'])

    # round 0 ran on the stage-1 weights: the same estimate in one process
    two = torch.load(osp.join(work, 'reconstruction', 'stats_round1.pth'),
                     weights_only=True)
    assert two['extra']['world_size'] == 2
    single = stage2_cfg(stage2_root, str(tmp_path / 'one'))
    model = build_model(single)
    model.init_weights()
    from mmpretrain.registry import DATASETS
    ds = statistics_dataset(DATASETS.build(single.train_dataloader.dataset),
                            single.test_dataloader.dataset.pipeline)
    one, info = estimate_class_statistics(
        model, build_statistics_dataloader(ds, batch_size=5))
    assert info['images'] == 48
    if calibration is not None:  # the same calibration of the same estimate
        from ldr_mm.reconstruction import calibrate_statistics
        one, report = calibrate_statistics(one, **calibration)
        assert any(e['donors'] for e in report)
        ddp = two['extra']['calibration']['report']
        assert [e['donor_indices'] for e in report] == [
            e['donor_indices'] for e in ddp]
    assert torch.equal(two['counts'], one.counts)
    torch.testing.assert_close(two['mean'], one.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(two['cov'], one.cov, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize('views', [1, 2])
def test_two_ranks_estimate_train_val_statistics_as_one_process(
        stage2_root, tmp_path, views):
    """``stats_dataloader.source='train+val'`` (and ``views=2`` of a
    deterministic pipeline) sharded over 2 ranks: round 1's statistics equal
    the single-process ones, and the ranks end identical."""
    test_set = stage2_cfg(stage2_root, 'unused').test_dataloader.dataset
    opts = dict(source='train+val', views=views, pipeline=test_set.pipeline)
    work = str(tmp_path / 'ddp')
    cfg = stage2_cfg(stage2_root, work, e_iters=2, rounds=2, m_iters=3,
                     m_solver='lda', stats_dataloader=opts)
    _train_two_ranks(cfg, tmp_path)
    r0 = torch.load(osp.join(work, 'rank0.pth'), weights_only=True)
    r1 = torch.load(osp.join(work, 'rank1.pth'), weights_only=True)
    for k in r0:
        if 'running_' not in k and 'num_batches' not in k:
            assert torch.equal(r0[k], r1[k]), k
    two = torch.load(osp.join(work, 'reconstruction', 'stats_round1.pth'),
                     weights_only=True)
    assert two['extra']['world_size'] == 2
    assert two['extra']['stats_source'] == dict(source='train+val',
                                                views=views)
    one, _ = round0_statistics(stage2_root, str(tmp_path / 'one'), **opts)
    assert int(two['counts'][0].sum()) == views * (48 + 16)
    assert torch.equal(two['counts'], one.counts)
    torch.testing.assert_close(two['mean'], one.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(two['cov'], one.cov, rtol=1e-4, atol=1e-6)
