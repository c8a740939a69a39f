"""``tools/train.py`` loads strictly: ``--resume CKPT``, auto-resume and
``load_from`` refuse a checkpoint with a missing key, an extra key, a weight
of another shape or the classes in another order, naming the file and the
difference, before an iteration runs (issue 23, item 3); a successful resume
removes the temporaries that a kill left in the work dir (item 8).
"""
import glob
import os
import os.path as osp
import re

import pytest
import torch

from conftest import write_tiny_config
from inference_helpers import load_tool
from stage2_helpers import stage2_cfg, stage2_root

__all__ = ['stage2_root']

#: variant -> (how the checkpoint is changed, what the message must say)
VARIANTS = {
    'missing': ('drop neck.label_embed',
                r'missing from the checkpoint: neck\.label_embed'),
    'extra': ('add neck.extra', r'model does not have: neck\.extra'),
    'shape': ('cut head.weight', r'different shape: head\.weight'),
    'order': ('swap two classes', 'same names in another order'),
}


def _variant(good: dict, variant: str) -> dict:
    ckpt = dict(good, state_dict=dict(good['state_dict']),
                meta=dict(good['meta']))
    sd = ckpt['state_dict']
    if variant == 'missing':
        del sd['neck.label_embed']
    elif variant == 'extra':
        sd['neck.extra'] = torch.zeros(3)
    elif variant == 'shape':
        sd['head.weight'] = sd['head.weight'][:, :-1].clone()
    else:
        meta = dict(ckpt['meta']['dataset_meta'])
        classes = list(meta['classes'])
        classes[0], classes[1] = classes[1], classes[0]
        ckpt['meta']['dataset_meta'] = dict(meta, classes=classes)
    return ckpt


def _trained(base, cfg_path, *args):
    """Train ``cfg_path`` with tools/train.py in this process."""
    work = str(base / 'work')
    load_tool('train.py').main([cfg_path, '--work-dir', work, *args])
    return work, torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)


@pytest.fixture(scope='module')
def stage1(demo_root, tmp_path_factory):
    base = tmp_path_factory.mktemp('strict1')
    cfg = write_tiny_config(base / 'cfg.py', demo_root, str(base / 'work'),
                            max_iters=2, val_interval=2, ckpt_interval=2)
    work, good = _trained(base, cfg)
    # the runs of the tests: 4 iterations, so a resumed run would train on
    cfg4 = write_tiny_config(base / 'cfg4.py', demo_root, 'unused',
                             max_iters=4, val_interval=2, ckpt_interval=2)
    return dict(cfg=cfg4, good=good, good_path=osp.join(work, 'iter_2.pth'))


@pytest.fixture(scope='module')
def stage2(stage2_root, tmp_path_factory):
    base = tmp_path_factory.mktemp('strict2')
    kw = dict(e_iters=2, m_iters=2, m_solver='sgd')
    cfg = str(base / 'cfg.py')
    stage2_cfg(stage2_root, str(base / 'work'), rounds=1, **kw).dump(cfg)
    work, good = _trained(base, cfg)
    cfg4 = str(base / 'cfg4.py')
    stage2_cfg(stage2_root, 'unused', rounds=2, **kw).dump(cfg4)
    return dict(cfg=cfg4, good=good, good_path=osp.join(work, 'iter_2.pth'))


def _refused(setup, tmp_path, variant, mode):
    """Run tools/train.py on the changed checkpoint in ``mode``; return the
    message, after checking that no iteration ran."""
    work = str(tmp_path / 'work')
    os.makedirs(work)
    bad = osp.join(work if mode == 'auto-resume' else str(tmp_path),
                   'iter_2.pth')
    torch.save(_variant(setup['good'], variant), bad)
    args = {'resume': ['--resume', bad], 'auto-resume': ['--resume'],
            'load_from': ['--cfg-options', f'load_from={bad}']}[mode]
    if mode == 'auto-resume':
        with open(osp.join(work, 'last_checkpoint'), 'w') as f:
            f.write(bad)
    with pytest.raises(SystemExit) as info:
        load_tool('train.py').main([setup['cfg'], '--work-dir', work, *args])
    message = str(info.value)
    assert f'"{bad}"' in message and '\n' not in message, message
    assert not glob.glob(osp.join(work, 'iter_4.pth')), 'it trained on'
    assert not glob.glob(osp.join(work, 'best_*.pth')), 'it validated'
    return message


@pytest.mark.parametrize('mode', ['resume', 'auto-resume', 'load_from'])
@pytest.mark.parametrize('variant', sorted(VARIANTS))
@pytest.mark.parametrize(
    'stage', ['stage1', pytest.param('stage2', marks=pytest.mark.slow)])
def test_refuses_a_checkpoint_that_does_not_fit(request, tmp_path, stage,
                                                variant, mode):
    """Both stages (fixture ``stage``; stage 2 is slow to set up)."""
    message = _refused(request.getfixturevalue(stage), tmp_path, variant,
                       mode)
    assert re.search(VARIANTS[variant][1], message)


def test_resume_removes_stale_temporaries_only(stage1, tmp_path):
    """A kill during an atomic write leaves ``.<name>.<random>.tmp``; the
    next successful resume removes those of the work dir, nothing else."""
    import shutil
    work = str(tmp_path / 'work')
    os.makedirs(osp.join(work, 'reconstruction'))
    shutil.copy(stage1['good_path'], osp.join(work, 'iter_2.pth'))
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'iter_2.pth'))
    stale = [osp.join(work, '.iter_4.pth.k3j_x9qa.tmp'),
             osp.join(work, '.best_auc_mean_iter_4.pth.0a1b2c3d.tmp'),
             osp.join(work, 'reconstruction',
                      '.stats_round2.pth.zz9yy8xx.tmp')]
    kept = [osp.join(work, 'notes.tmp'), osp.join(work, '.hidden.tmp'),
            osp.join(work, 'iter_2.pth.tmp'),
            osp.join(str(tmp_path), '.iter_4.pth.k3j_x9qa.tmp')]
    for path in stale + kept:
        with open(path, 'wb') as f:
            f.write(b'\0' * 16)
    load_tool('train.py').main([stage1['cfg'], '--work-dir', work,
                                '--resume'])
    assert osp.isfile(osp.join(work, 'iter_4.pth'))  # it resumed and trained
    assert [p for p in stale if osp.exists(p)] == []
    assert [p for p in kept if not osp.exists(p)] == []
