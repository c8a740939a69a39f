"""--resume in the middle of stage 2 reproduces the uninterrupted run."""
import os.path as osp

import pytest
import torch

from stage2_helpers import (SOLVER_CASES, build_runner, stage2_cfg,
                            stage2_root)

__all__ = ['stage2_root']


def assert_same(a, b, path='checkpoint'):
    """Recursive exact equality of checkpoint contents."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, path
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), (path, a.keys() ^ b.keys())
        for k in a:
            assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f'{path}[{i}]')
    elif isinstance(a, float) and path.endswith(('seconds', 'stats_seconds',
                                                 'm_seconds')):
        pass  # wall-clock times differ
    else:
        assert a == b, (path, a, b)


def load(path):
    return torch.load(path, weights_only=True, map_location='cpu')


@pytest.mark.slow
@pytest.mark.parametrize('m_solver,calibration', SOLVER_CASES)
def test_resume_mid_stage2_equals_uninterrupted(stage2_root, tmp_path,
                                                m_solver, calibration):
    """2 rounds x 3 E-step iterations, a checkpoint after every iteration,
    validation after each round, dropout and random flips on. Resume from

    * iter 2: in the middle of round 0,
    * iter 3: a round boundary (round 1's statistics pass not yet run),
    * iter 4: right after round 1's statistics pass + M-step (+1 E-step),

    and compare the final weights, both optimisers and the hook state.
    """
    kw = dict(e_iters=3, rounds=2, m_iters=4, ckpt_interval=1,
              m_solver=m_solver, calibration=calibration)
    full = str(tmp_path / 'full')
    build_runner(stage2_cfg(stage2_root, full, **kw)).train()
    ref = load(osp.join(full, 'iter_6.pth'))
    # every round re-estimated and trained the classifier
    hist = ref['ldr_reconstruction']['history']
    assert [h['round'] for h in hist] == [0, 1]
    assert ref['ldr_reconstruction']['round_done'] == 1
    s1 = load(osp.join(stage2_root, 'stage1.pth'))['state_dict']
    assert not torch.equal(s1['head.weight'], ref['state_dict']['head.weight'])
    assert not torch.equal(s1['neck.label_embed'],
                           ref['state_dict']['neck.label_embed'])
    assert osp.isfile(osp.join(full, 'reconstruction', 'stats_round2.pth'))
    if calibration is not None:  # the tail groups were calibrated
        cal = load(osp.join(full, 'reconstruction',
                            'stats_round2.pth'))['extra']['calibration']
        assert any(e['donors'] for e in cal['report'])

    for k in (2, 3, 4):
        work = str(tmp_path / f'resume{k}')
        cfg = stage2_cfg(stage2_root, work, **kw)
        cfg.resume = True
        cfg.load_from = osp.join(full, f'iter_{k}.pth')
        build_runner(cfg).train()
        out = load(osp.join(work, 'iter_6.pth'))
        for key in ('state_dict', 'optimizer', 'ldr_reconstruction'):
            assert_same(ref[key], out[key], f'resume from {k}: {key}')
        # round 1's statistics: recomputed (k <= 3) or carried over (k = 4)
        if k <= 3:
            a = load(osp.join(full, 'reconstruction', 'stats_round2.pth'))
            b = load(osp.join(work, 'reconstruction', 'stats_round2.pth'))
            assert_same(a['mean'], b['mean'])
            assert_same(a['cov'], b['cov'])


def test_resuming_a_stage1_checkpoint_is_refused(stage2_root, tmp_path):
    import pytest
    cfg = stage2_cfg(stage2_root, str(tmp_path / 'w'))
    cfg.resume = True
    # a stage-1 checkpoint has no stage-2 state (and no iteration meta)
    s1 = load(osp.join(stage2_root, 'stage1.pth'))
    s1['meta'].update(epoch=12, iter=600)
    path = str(tmp_path / 'stage1_full.pth')
    torch.save(s1, path)
    cfg.load_from = path
    with pytest.raises(RuntimeError, match='without stage-2 state'):
        build_runner(cfg).train()
