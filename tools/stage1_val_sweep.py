"""Validation-split sweep of stage-1 configs over seeds (research tool).

Trains each (config, seed) with ``tools/train.py`` and evaluates its last
checkpoint on the **validation** split with ``tools/test.py --split val``
(per-image scores kept for paired bootstrap), optionally also on the
training split (``--train-eval``: underfitting vs overfitting). The test
split is never read, so settings can be chosen from these numbers.
``--summarize`` prints mean +- sd over seeds per run name and the paired
bootstrap interval of each name's difference to ``--reference`` (images
resampled, the same resample for both, per seed, pooled over seeds).

Examples::

    python tools/stage1_val_sweep.py configs/baselines/bce_r18_demo.py \
        --seeds 0 1 2 --backbone-width 16 --work-dir work_dirs/sweep
    python tools/stage1_val_sweep.py configs/ldrnet/ldr_r18_demo_stage1.py \
        --name ldr_gap --seeds 0 1 2 --backbone-width 16 \
        --work-dir work_dirs/sweep --cfg-options model.neck.gap_residual=True
    python tools/stage1_val_sweep.py --summarize work_dirs/sweep \
        --reference bce_r18_demo
"""
import argparse
import csv
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

from benchmark.configs import load_config, repo_path
from benchmark.overrides import set_backbone, set_epochs, tiny_backbone
from benchmark.runs import dump_config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def _tool(tool, argv, log, threads):
    env = dict(os.environ, PYTHONUNBUFFERED='1', HF_HUB_OFFLINE='1',
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=REPO)
    cmd = [sys.executable, osp.join(REPO, 'tools', f'{tool}.py')] + argv
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=REPO, stdout=f,
                              stderr=subprocess.STDOUT, env=env)
    if proc.returncode:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'{tool} failed, log {log}:\n{tail}')


def prepare_config(args, seed, out):
    """Write the run's resolved config to ``out/config.py`` (the suite's
    overrides: seed, narrow backbone, epochs; then ``--cfg-options``)."""
    os.makedirs(out, exist_ok=True)
    cfg = load_config(repo_path(args.config))
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=seed)
    if args.backbone_width:
        set_backbone(cfg, tiny_backbone(args.backbone_width,
                                         like=cfg.model.backbone))
    if args.epochs:
        set_epochs(cfg, args.epochs)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = out
    cfg_file = osp.join(out, 'config.py')
    dump_config(cfg, cfg_file)
    return cfg_file


def run_one(args, seed):
    """Train one seed and evaluate it on val (and train)."""
    out = osp.join(args.work_dir, args.name, f'seed{seed}')
    if osp.isfile(osp.join(out, 'val_metrics.json')) and not args.force:
        return out
    cfg_file = prepare_config(args, seed, out)
    t0 = time.time()
    _tool('train', [cfg_file, '--work-dir', out],
          osp.join(out, 'train.log'), args.threads)
    train_s = time.time() - t0
    with open(osp.join(out, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    evals = [('val', [])]
    if args.train_eval:
        # test.py --split val evaluates a copy of val_dataloader as the
        # test dataloader; point that copy at the training split
        evals.append(('train', ['--cfg-options',
                                'test_dataloader.dataset.split=train']))
    for split, extra in evals:
        _tool('test', [cfg_file, ckpt, '--split', 'val', '--work-dir', out,
                       '--metrics-out', osp.join(out, f'{split}_metrics.json'),
                       '--out', osp.join(out, f'{split}_scores.csv')] + extra,
              osp.join(out, f'test_{split}.log'), args.threads)
    with open(osp.join(out, 'run.json'), 'w') as f:
        json.dump(dict(config=args.config, seed=seed, checkpoint=ckpt,
                       cfg_options=args.cfg_options, train_s=train_s,
                       backbone_width=args.backbone_width,
                       threads=args.threads), f, indent=1)
    return out


def _scores(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    cls = [k[6:] for k in rows[0] if k.startswith('score/')]
    s = np.array([[float(r[f'score/{c}']) for c in cls] for r in rows])
    y = np.array([[float(r[f'gt/{c}']) for c in cls] for r in rows])
    return cls, s, y


def _ap_columns(s, y):
    """Per-class AP of (B, N, C) bootstrap score/label stacks: (B, C)."""
    order = np.argsort(-s, axis=1, kind='stable')
    ys = np.take_along_axis(y, order, axis=1)
    tp = np.cumsum(ys, axis=1)
    prec = tp / np.arange(1, ys.shape[1] + 1)[None, :, None]
    npos = ys.sum(1)
    return (prec * ys).sum(1) / np.maximum(npos, 1)


def bootstrap_diff(a, b, groups, n_boot=500, seed=0):
    """Paired bootstrap of mAP(a) - mAP(b) per group over images.

    Args:
        a, b: ``(scores (N, C), labels (N, C))`` of two runs on the same
            images (same order).
        groups (dict): ``{name: class index list}``.

    Returns:
        dict: ``{group: (B,) differences}``.
    """
    rng = np.random.default_rng(seed)
    n = a[0].shape[0]
    idx = rng.integers(0, n, size=(n_boot, n))
    y = a[1][idx]
    ap_a = _ap_columns(a[0][idx], y)
    ap_b = _ap_columns(b[0][idx], y)
    valid = y.sum(1) > 0
    out = {}
    for g, cols in groups.items():
        m = valid[:, cols]
        da = np.where(m, ap_a[:, cols], 0).sum(1) / np.maximum(m.sum(1), 1)
        db = np.where(m, ap_b[:, cols], 0).sum(1) / np.maximum(m.sum(1), 1)
        out[g] = da - db
    return out


KEYS = [('auc/mean', 'AUC'), ('auc/tail', 'AUC tail'), ('mAP/mean', 'mAP'),
        ('mAP/head', 'mAP head'), ('mAP/tail', 'mAP tail')]


def summarize(work_dir, reference, split='val', json_out=None):
    from ldr_mm.evaluation.report import format_table
    runs = {}
    for p in sorted(glob.glob(osp.join(work_dir, '*', 'seed*',
                                       f'{split}_metrics.json'))):
        name = p.split(os.sep)[-3]
        seed = int(p.split(os.sep)[-2][4:])
        with open(p) as f:
            runs.setdefault(name, {})[seed] = json.load(f)['metrics']
    rows = []
    for name, seeds in runs.items():
        row = [name, ' '.join(map(str, sorted(seeds)))]
        for k, _ in KEYS:
            v = np.array([m[k] for m in seeds.values()])
            row.append(f'{v.mean():.4f} +- {v.std(ddof=1) if len(v) > 1 else 0:.4f}')
        if reference and name != reference and reference in runs:
            row.append(_paired(work_dir, name, reference, runs, split))
        else:
            row.append('')
        rows.append(row)
    header = ['run', 'seeds'] + [h for _, h in KEYS] + [
        f'd mAP / d tail mAP vs {reference} [90% paired bootstrap]']
    print(f'{split} split, mean +- sd over seeds')
    print(format_table(header, rows))
    if json_out:
        per_run = {}
        for name, seeds in runs.items():
            with open(osp.join(work_dir, name, f'seed{min(seeds)}',
                               'run.json')) as f:
                rec = json.load(f)
            per_run[name] = dict(
                config=rec['config'], cfg_options=rec['cfg_options'],
                backbone_width=rec['backbone_width'], split=split,
                seeds={s: {k: m[k] for k, _ in KEYS}
                       for s, m in sorted(seeds.items())})
        with open(json_out, 'w') as f:
            json.dump(per_run, f, indent=1)


def _paired(work_dir, name, ref, runs, split):
    common = sorted(set(runs[name]) & set(runs[ref]))
    if not common:
        return 'no common seed'
    diffs = {'all': [], 'tail': []}
    for s in common:
        cls, sa, ya = _scores(osp.join(work_dir, name, f'seed{s}',
                                       f'{split}_scores.csv'))
        _, sb, yb = _scores(osp.join(work_dir, ref, f'seed{s}',
                                     f'{split}_scores.csv'))
        if not np.array_equal(ya, yb):
            return 'labels differ'
        groups = {'all': list(range(len(cls))), 'tail': _tail_index(cls)}
        d = bootstrap_diff((sa, ya), (sb, yb), groups, seed=s)
        for g in diffs:
            diffs[g].append(d[g])
    parts = []
    for g in ('all', 'tail'):
        d = np.mean(diffs[g], axis=0)  # mean over seeds of paired diffs
        lo, hi = np.percentile(d, [5, 95])
        parts.append(f'{d.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]')
    return ' / '.join(parts)


def _tail_index(cls):
    """Indices of the dataset's tail classes (``TAIL``)."""
    tail = TAIL.get(tuple(cls))
    if tail is None:
        raise KeyError('unknown tail classes for ' + ', '.join(cls))
    return [cls.index(c) for c in tail]


TAIL = {}


def _register_tails():
    from ldr_mm.datasets import demo
    TAIL[tuple(demo.DEMO_CLASSES)] = list(demo.DEMO_TAIL)
    try:
        from ldr_mm.datasets import mnist_lt
        TAIL[tuple(mnist_lt.MNIST_LT_CLASSES)] = list(mnist_lt.MNIST_LT_TAIL)
    except ImportError:
        pass


def main(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('config', nargs='?')
    p.add_argument('--name', help='run name (default: config file name)')
    p.add_argument('--work-dir', default='work_dirs/stage1_val_sweep')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--backbone-width', type=int)
    p.add_argument('--epochs', type=int)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--train-eval', action='store_true')
    p.add_argument('--force', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--summarize', metavar='WORK_DIR')
    p.add_argument('--reference')
    p.add_argument('--split', default='val', choices=['val', 'train'])
    p.add_argument('--json', help='with --summarize: write per-run, '
                   'per-seed numbers to this file')
    args = p.parse_args(argv)
    _register_tails()
    if args.summarize:
        summarize(args.summarize, args.reference, args.split, args.json)
        return
    if not args.config:
        p.error('a config (or --summarize) is required')
    args.name = args.name or osp.splitext(osp.basename(args.config))[0]
    for seed in args.seeds:
        t0 = time.time()
        out = run_one(args, seed)
        with open(osp.join(out, 'val_metrics.json')) as f:
            m = json.load(f)['metrics']
        print(f'{args.name} seed {seed}: ' + '  '.join(
            f'{h} {m[k]:.4f}' for k, h in KEYS) +
            f'  ({time.time() - t0:.0f} s)', flush=True)


if __name__ == '__main__':
    main()
