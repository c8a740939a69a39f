"""Stage 1 is candidate 0 of stage 2: validated before round 1, so
``save_best`` (also on a tail metric) can keep it, without changing what
stage 2 trains."""
import glob
import json
import os
import os.path as osp

import pytest
import torch

from stage2_helpers import build_runner, stage2_cfg, stage2_root

__all__ = ['stage2_root']  # the fixture


def load(path):
    return torch.load(path, weights_only=True, map_location='cpu')


def val_scores(work, key):
    run = sorted(d for d in os.listdir(work) if d[:2] == '20')[-1]
    with open(osp.join(work, run, 'vis_data', 'scalars.json')) as f:
        rows = [json.loads(line) for line in f]
    # validation rows in order (MMEngine logs them with step = epoch = 0)
    return [r[key] for r in rows if key in r]


def test_stage1_kept_by_save_best_on_a_tail_metric(stage2_root, tmp_path):
    """A stage 2 that cannot improve (E-step lr 0, no M-step, BN frozen):
    every validation ties, and save_best on 'mAP/tail' keeps the stage-1
    weights validated at iteration 0."""
    work = str(tmp_path / 'w')
    # 'sgd' with m_iters=0: no M-step at all (the default 'lda' always solves)
    cfg = stage2_cfg(stage2_root, work, e_iters=2, rounds=2, m_iters=0,
                     m_solver='sgd')
    cfg.optim_wrapper.optimizer.lr = 0.0
    cfg.model.backbone.norm_eval = True
    cfg.default_hooks.checkpoint.save_best = 'mAP/tail'
    build_runner(cfg).train()
    scores = val_scores(work, 'mAP/tail')
    assert len(scores) == 3  # stage 1, then after each round
    assert len(set(scores)) == 1
    best = glob.glob(osp.join(work, 'best_mAP_tail_iter_*.pth'))
    assert [osp.basename(p) for p in best] == ['best_mAP_tail_iter_0.pth']
    s1 = load(osp.join(stage2_root, 'stage1.pth'))['state_dict']
    kept = load(best[0])['state_dict']
    assert kept.keys() == s1.keys()
    for k in s1:
        assert torch.equal(kept[k], s1[k]), k


@pytest.mark.slow
def test_validating_stage1_does_not_change_training(stage2_root, tmp_path):
    kw = dict(e_iters=2, rounds=2, m_iters=3)
    out = {}
    for flag in (True, False):
        work = str(tmp_path / str(flag))
        build_runner(stage2_cfg(stage2_root, work, val_stage1=flag,
                                **kw)).train()
        out[flag] = load(osp.join(work, 'iter_4.pth'))
        assert len(val_scores(work, 'auc/mean')) == (3 if flag else 2)
    for k, v in out[True]['state_dict'].items():
        assert torch.equal(v, out[False]['state_dict'][k]), k
