"""A new M-step solver is one file: the example of docs/architecture.md
("Adding an M-step solver"), registered from the page's own code block and
trained through real stage-2 rounds (runner, checkpoints, --resume)."""
import glob
import os.path as osp
import re

import torch

from stage2_helpers import REPO, build_runner, stage2_cfg, stage2_root

__all__ = ['stage2_root']  # the fixture

DOC = osp.join(REPO, 'docs', 'architecture.md')


def example_solver_code() -> str:
    text = open(DOC).read()
    section = text.split('## Adding an M-step solver', 1)[1]
    return re.search(r'```python\n(.*?)```', section, re.S).group(1)


def register_example():
    from mmpretrain.registry import TASK_UTILS
    if TASK_UTILS.get('mean_diff') is None:
        exec(compile(example_solver_code(), DOC, 'exec'), {})
    return TASK_UTILS.get('mean_diff')


def mean_diff_head(stats, prob, weight, bias, momentum):
    """The example's formula, written again from the statistics file."""
    mean = stats['mean'].float()
    w = mean[:, 1] - mean[:, 0]
    p = torch.tensor(prob).float().clamp(1e-6, 1 - 1e-6)
    b = torch.log(p / (1 - p)) - (w * mean.sum(1)).sum(-1) / 2
    ok = stats['counts'].gt(0).all(1)
    return (torch.where(ok[:, None], momentum * weight + (1 - momentum) * w,
                        weight),
            torch.where(ok, momentum * bias + (1 - momentum) * b, bias))


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_example_solver_runs_through_stage2_rounds(stage2_root, tmp_path):
    from ldr_mm.reconstruction.m_step import BaseMStepSolver, m_solver_names
    cls = register_example()
    assert issubclass(cls, BaseMStepSolver)
    assert {'mean_diff', 'MeanDiffMStep'} <= set(m_solver_names())
    kw = dict(e_iters=2, rounds=2, val=False)
    solver = dict(type='mean_diff', momentum=0.5)
    full = str(tmp_path / 'full')
    cfg = stage2_cfg(stage2_root, full, **kw)
    cfg.train_cfg.m_solver = solver
    build_runner(cfg).train()
    # one checkpoint per round (the loop's default), the solver's state in it
    for r in (1, 2):
        state = load(osp.join(full, f'iter_{2 * r}.pth'))['ldr_reconstruction']
        assert state['m_solver'] == dict(fits=r)
    # the head: the formula applied to each round's statistics in turn
    head = load(osp.join(stage2_root, 'stage1.pth'))['state_dict']
    w, b = head['head.weight'], head['head.bias']
    for r in (1, 2):
        stats = load(osp.join(full, 'reconstruction', f'stats_round{r}.pth'))
        w, b = mean_diff_head(stats, stats['extra']['sampling_probability'],
                              w, b, 0.5)
    out = load(osp.join(full, 'iter_4.pth'))['state_dict']
    torch.testing.assert_close(out['head.weight'], w)
    torch.testing.assert_close(out['head.bias'], b)
    (log, ) = glob.glob(osp.join(full, '*', '*.log'))
    assert 'M-step (mean_diff): fit 2 in ' in open(log).read()
    # --resume from round 1's checkpoint: the same run, the state restored
    work = str(tmp_path / 'resume')
    cfg = stage2_cfg(stage2_root, work, **kw)
    cfg.train_cfg.m_solver = solver
    cfg.resume, cfg.load_from = True, osp.join(full, 'iter_2.pth')
    build_runner(cfg).train()
    again = load(osp.join(work, 'iter_4.pth'))
    assert again['ldr_reconstruction']['m_solver'] == dict(fits=2)
    for k, v in out.items():
        assert torch.equal(again['state_dict'][k], v), k
