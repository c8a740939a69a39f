"""Stage 1 end to end through MMEngine's runner (tools/train.py, test.py)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import REPO, load_tiny_cfg, write_prompt_cache, \
    write_tiny_config
from inference_helpers import load_tool

test_tool = load_tool('test.py')
train_tool = load_tool('train.py')


def read_scalars(work_dir):
    """All json log lines of the (single) run in work_dir."""
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def train_losses(work_dir):
    return {r['step']: r['loss'] for r in read_scalars(work_dir)
            if 'loss' in r}


def test_two_iterations_train_and_val(demo_root, tmp_path):
    work = str(tmp_path / 'work')
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root, work,
                            max_iters=2, val_interval=2)
    train_tool.main([cfg])
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    logs = read_scalars(work)
    val = [r for r in logs if 'auc/mean' in r]
    assert len(val) == 1
    for key in ('auc/mean', 'auc/head', 'auc/tail', 'mAP/mean', 'mAP/head',
                'mAP/tail'):
        assert 0.0 <= val[0][key] <= 1.0
    assert len(train_losses(work)) == 2
    ckpt = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)
    assert ckpt['meta']['dataset_meta']['classes'][0] == 'opacity'


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(demo_root, tmp_path):
    """Train 4 iterations vs 2 + --resume to 4: same losses, same weights.

    Dropout is active, random flips are on, validation runs in between.
    """
    kw = dict(max_iters=4, val_interval=2, ckpt_interval=2)
    full = str(tmp_path / 'full')
    train_tool.main([write_tiny_config(tmp_path / 'a.py', demo_root, full,
                                       **kw)])
    part = str(tmp_path / 'part')
    cfg_part = write_tiny_config(tmp_path / 'b.py', demo_root, part, **kw)
    train_tool.main([cfg_part, '--cfg-options', 'train_cfg.max_iters=2'])
    assert not osp.exists(osp.join(part, 'iter_4.pth'))
    train_tool.main([cfg_part, '--resume'])  # auto: latest in work dir

    a = train_losses(full)
    b = train_losses(part)
    assert a[3] == b[3] and a[4] == b[4]
    sa = torch.load(osp.join(full, 'iter_4.pth'),
                    weights_only=True)['state_dict']
    sb = torch.load(osp.join(part, 'iter_4.pth'),
                    weights_only=True)['state_dict']
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_test_tool_prints_table_and_writes_scores(demo_root, tmp_path,
                                                   capsys):
    work = str(tmp_path / 'work')
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root, work,
                            max_iters=2, val_interval=100)
    train_tool.main([cfg])
    out_csv = str(tmp_path / 'scores.csv')
    metrics = test_tool.main(
        [cfg, osp.join(work, 'iter_2.pth'), '--out', out_csv])
    text = capsys.readouterr().out
    assert 'Per-class results' in text and 'cavity' in text
    assert 'AUC' in text and 'head' in text
    assert 'auc/class/opacity' in metrics
    import csv
    rows = list(csv.DictReader(open(out_csv)))
    assert len(rows) == 16
    assert set(rows[0]) >= {'img_path', 'score/opacity', 'gt/cavity'}


def test_num_classes_mismatch_fails_before_training(demo_root, tmp_path):
    work = str(tmp_path / 'w')
    cache = str(tmp_path / 'p9.pth')
    write_prompt_cache(cache, [f'c{i}' for i in range(9)])
    cfg = load_tiny_cfg(demo_root, work)
    cfg.merge_from_dict({'model.head.num_classes': 9,
                         'model.neck.prompt_cache': cache,
                         'data_preprocessor.num_classes': 9})
    cfg.dump(str(tmp_path / 'c.py'))
    with pytest.raises(ValueError, match='num_classes=9.*10 classes'):
        train_tool.main([str(tmp_path / 'c.py')])
    assert not any(f.endswith('.pth') for f in os.listdir(work))


def test_prompt_cache_for_other_classes_fails(demo_root, tmp_path):
    from ldr_mm.prompts import PromptCacheError
    cache = str(tmp_path / 'other.pth')
    write_prompt_cache(cache, [f'c{i}' for i in range(10)])
    cfg = load_tiny_cfg(demo_root, str(tmp_path / 'w'))
    cfg.merge_from_dict({'model.neck.prompt_cache': cache})
    cfg.dump(str(tmp_path / 'c.py'))
    with pytest.raises(PromptCacheError,
                       match='extract_prompt_embeddings.py --classes '
                       'opacity nodule'):
        train_tool.main([str(tmp_path / 'c.py')])


def test_amp_refused_on_cpu(demo_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip('GPU present')
    cfg = write_tiny_config(tmp_path / 'c.py', demo_root, str(tmp_path))
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        train_tool.main([cfg, '--amp'])


RANK_DUMP_HOOK = """
import os.path as osp
import torch
from mmengine.hooks import Hook
from mmengine.dist import get_rank
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class DumpRankWeights(Hook):
    def after_train(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') \\
            else runner.model
        torch.save({k: v.detach().clone() for k, v in
                    model.state_dict().items()},
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))
"""


@pytest.mark.slow
def test_two_process_gloo_run(demo_root, tmp_path):
    """tools/dist_train.sh with 2 CPU processes (gloo, DDP).

    Both ranks end with identical weights (gradients were all-reduced), and
    validation gathers every sample exactly once (15 samples: the sampler
    pads to 16, the metric must drop the duplicate).
    """
    (tmp_path / 'rank_dump_hook.py').write_text(RANK_DUMP_HOOK)
    work = str(tmp_path / 'dist')
    cfg = load_tiny_cfg(demo_root, work, max_iters=2, val_interval=2,
                        batch_size=2)
    cfg.custom_imports = dict(imports=['ldr_mm', 'rank_dump_hook'],
                              allow_failed_imports=False)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='DumpRankWeights')]
    cfg.val_dataloader.dataset.indices = 15
    scores = str(tmp_path / 'val_scores.csv')
    cfg.val_evaluator = list(cfg.val_evaluator) + [
        dict(type='MultiLabelScoreDump', out_file=scores)]
    cfg.dump(str(tmp_path / 'cfg.py'))
    env = dict(os.environ, PYTHON=sys.executable, PORT='29531',
               OMP_NUM_THREADS='1',
               PYTHONPATH=str(tmp_path) + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    res = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'),
         str(tmp_path / 'cfg.py'), '2'],
        env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    w0 = torch.load(osp.join(work, 'rank0.pth'), weights_only=True)
    w1 = torch.load(osp.join(work, 'rank1.pth'), weights_only=True)
    final = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)
    compared = 0
    for k in w0:
        if 'running_' in k or 'num_batches' in k:
            continue  # BN buffers are per rank (broadcast_buffers=False)
        assert torch.equal(w0[k], w1[k]), k
        compared += 1
    assert compared > 50
    torch.testing.assert_close(w0['head.weight'],
                               final['state_dict']['head.weight'])
    import csv
    rows = list(csv.DictReader(open(scores)))
    assert len(rows) == 15
    assert len({r['img_path'] for r in rows}) == 15


@pytest.mark.slow
def test_two_runs_with_the_same_seed_are_identical(demo_root, tmp_path):
    """Fixed seed on CPU, worker processes loading data: identical metrics
    and weights."""
    out = []
    for name in ('a', 'b'):
        work = str(tmp_path / name)
        cfg = write_tiny_config(tmp_path / f'{name}.py', demo_root, work,
                                max_iters=4, val_interval=2, num_workers=2)
        train_tool.main([cfg])
        val = [{k: v for k, v in r.items() if '/' in k and 'time' not in k}
               for r in read_scalars(work) if 'auc/mean' in r]
        state = torch.load(osp.join(work, 'iter_4.pth'),
                           weights_only=True)['state_dict']
        out.append((train_losses(work), val, state))
    (la, va, sa), (lb, vb, sb) = out
    assert la == lb and len(va) == 2 and va == vb
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
