"""Tail statistics calibration, measured offline (research diagnostic).

Takes a trained stage-1 checkpoint and its config, caches the class-aware
features ``X_class`` (N, C, D) of the training and the **validation** split
(test pipeline, eval mode; never the test split), estimates the Gaussian
statistics of the training features as stage 2 does
(:class:`~ldr_mm.reconstruction.GaussianAccumulator`, ``shrinkage='auto'``,
``ridge=1e-3``), and fits the closed-form LDA classifier
(:func:`~ldr_mm.reconstruction.m_step.lda_classifier`) without and with
:func:`~ldr_mm.reconstruction.calibrate_statistics` for a few settings.
Prints validation mAP / tail mAP / AUC / tail AUC per setting and
checkpoint, then the mean over checkpoints. The stage-1 head itself is the
first row. Per-class AP and AUC do not depend on the bias, so the LDA prior
p_c (the sampler's reverse p_c) does not matter here.

Features are cached in ``--cache-dir`` (never beside the checkpoint).

Example::

    python benchmarks/calibration_on_cached_stats.py \
        --run /work/runs/bench_demo/ldr_r18_demo_stage1/seed0 \
        --data-dir /work/main --setting k2 k=2 --setting k2_a01 k=2 alpha=0.1
"""
import argparse
import copy
import glob
import hashlib
import json
import os
import os.path as osp

import numpy as np
import torch


#: name -> calibrate_statistics options; --setting adds to these.
DEFAULT_SETTINGS = [
    ('k1', dict(k=1)),
    ('k2', dict(k=2)),
    ('k3', dict(k=3)),
    ('k2_alpha0.1', dict(k=2, alpha=0.1)),
    ('k2_shift', dict(k=2, shift_mean=True)),
    ('k2_maxn2D', 'k=2 max_n=2D'),  # resolved against D below
]


def find_run(run_dir):
    """(config, checkpoint) of a finished stage-1 run folder: a suite run
    (one ``<config>.py`` + ``best_*.pth``) or a ``stage1_val_sweep.py`` run
    (``config.py`` + ``last_checkpoint``)."""
    last = osp.join(run_dir, 'last_checkpoint')
    sweep_cfg = osp.join(run_dir, 'config.py')
    if osp.isfile(sweep_cfg) and osp.isfile(last):
        with open(last) as f:
            return sweep_cfg, f.read().strip()
    cfgs = [p for p in glob.glob(osp.join(run_dir, '*.py'))]
    ckpts = sorted(glob.glob(osp.join(run_dir, 'best_*.pth')))
    if len(cfgs) != 1 or not ckpts:
        raise FileNotFoundError(f'{run_dir}: expected one config *.py and a '
                                f'best_*.pth, found {cfgs} and {ckpts}')
    return cfgs[0], ckpts[-1]


def _dataset(cfg, split, data_dir):
    from mmpretrain.registry import DATASETS
    ds_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    ds_cfg.split = split
    if data_dir and not osp.isabs(ds_cfg.data_root):
        ds_cfg.data_root = osp.join(data_dir, ds_cfg.data_root)
    return DATASETS.build(ds_cfg)


def load_model(cfg, ckpt):
    """The config's model with the checkpoint's weights (strict), in eval
    mode, built as the runner builds it (with its data preprocessor)."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    load_checkpoint(model, ckpt, map_location='cpu', strict=True,
                    logger='silent')
    return model.eval()


def print_mean_sd(per_run, columns, width=10):
    """Print the mean +- sd over runs of every row, given one
    ``{row name: values, one per column}`` dict per run (nothing for a
    single run)."""
    if len(per_run) < 2:
        return
    print(f'\nmean +- sd over {len(per_run)} runs')
    for name in per_run[0]:
        v = np.array([r[name] for r in per_run])
        print(f'  {name:{width}s} ' + '  '.join(
            f'{c} {m:.4f} +- {s:.4f}' for c, m, s in zip(
                columns, v.mean(0), v.std(0, ddof=1))))


@torch.no_grad()
def cache_class_features(cfg, ckpt, splits, data_dir, batch_size=64):
    """{split: (X_class (N, C, D) float32, labels (N, C) bool)}, tail
    indices, class names and the stage-1 head's (weight, bias)."""
    from mmengine.dataset import pseudo_collate

    from ldr_mm.reconstruction import class_features
    model = load_model(cfg, ckpt)
    out = {}
    for split in splits:
        ds = _dataset(cfg, split, data_dir)
        xs, ys = [], []
        for i in range(0, len(ds), batch_size):
            batch = pseudo_collate(
                [ds[j] for j in range(i, min(i + batch_size, len(ds)))])
            x, y, _ = class_features(model, batch)
            xs.append(x.float())
            ys.append(y)
        out[split] = (torch.cat(xs), torch.cat(ys))
    classes = list(ds.metainfo['classes'])
    tail = [classes.index(c) for c in ds.metainfo['tail_classes']]
    head = (model.head.weight.detach().clone(),
            model.head.bias.detach().clone())
    return dict(splits=out, tail=tail, classes=classes, head=head)


def cached(ckpt, cache_dir, make, prefix=''):
    """``make()``, kept in ``cache_dir`` under the checkpoint's name and a
    hash of its absolute path (``prefix`` tells the scripts apart)."""
    key = hashlib.sha1(osp.abspath(ckpt).encode()).hexdigest()[:12]
    path = osp.join(cache_dir, f'{prefix}{osp.basename(ckpt)}.{key}.pth')
    if osp.isfile(path):
        return torch.load(path, weights_only=True)
    data = make()
    os.makedirs(cache_dir, exist_ok=True)
    torch.save(data, path)
    return data


def load_or_cache(cfg, ckpt, data_dir, cache_dir):
    return cached(ckpt, cache_dir, lambda: cache_class_features(
        cfg, ckpt, ('train', 'val'), data_dir))


def statistics_of(x, y, classes, shrinkage='auto'):
    from ldr_mm.reconstruction import GaussianAccumulator
    acc = GaussianAccumulator(x.shape[1], x.shape[2], cov_type='full')
    for i in range(0, len(x), 512):
        acc.update(x[i:i + 512], y[i:i + 512])
    return acc.compute(shrinkage=shrinkage, ridge=1e-3, classes=classes)


def scores_of(weight, bias, x):
    """(N, C) logits of the group-wise linear head."""
    return (x.double() * weight.double()).sum(-1) + bias.double()


def metrics(scores, y, tail):
    from ldr_mm.evaluation.functional import (average_precision_per_class,
                                              roc_auc_per_class)
    s, t = scores.numpy(), y.numpy().astype(np.float64)
    ap, auc = average_precision_per_class(s, t), roc_auc_per_class(s, t)
    return [float(np.nanmean(ap)), float(np.nanmean(ap[tail])),
            float(np.nanmean(auc)), float(np.nanmean(auc[tail]))]


def lda_scores(stats, x):
    from ldr_mm.reconstruction import sampling_probability
    from ldr_mm.reconstruction.m_step import lda_classifier
    prob = sampling_probability(stats.positive_counts, mode='reverse')
    w, b, ok = lda_classifier(stats, prob)
    if not bool(ok.all()):
        raise RuntimeError(f'LDA undefined for classes '
                           f'{(~ok).nonzero().flatten().tolist()}')
    return scores_of(w, b, x)


def _options(opts, dims):
    if isinstance(opts, dict):
        return dict(opts)
    out = {}
    for kv in opts.split():
        k, v = kv.split('=', 1)
        out[k] = 2 * dims if v == '2D' else json.loads(v)
    return out


def evaluate_run(data, settings):
    """{setting: [val mAP, tail mAP, AUC, tail AUC]} and the calibrated
    classes per setting."""
    from ldr_mm.reconstruction import calibrate_statistics
    (xtr, ytr), (xva, yva) = data['splits']['train'], data['splits']['val']
    tail, classes = data['tail'], data['classes']
    stats = statistics_of(xtr, ytr, classes)
    rows = {'stage1_head': metrics(scores_of(*data['head'], xva), yva, tail),
            'lda': metrics(lda_scores(stats, xva), yva, tail)}
    who = {}
    for name, opts in settings:
        cal, report = calibrate_statistics(stats,
                                           **_options(opts, stats.dims))
        rows[name] = metrics(lda_scores(cal, xva), yva, tail)
        who[name] = {e['class']: e['donors'] for e in report if e['donors']}
    return rows, who, stats.positive_counts.tolist()


def run_parser(doc):
    """The options of the cached-feature scripts: runs, data, cache."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--run', nargs='+', required=True,
                   help='finished stage-1 run folders (config + best_*.pth, '
                   'or a stage1_val_sweep run)')
    p.add_argument('--data-dir', default=None,
                   help='folder that relative data_root paths resolve in')
    p.add_argument('--cache-dir', default='work_dirs/calibration_cache')
    return p


def _parse(argv):
    p = run_parser(__doc__)
    p.add_argument('--setting', nargs='+', action='append', default=[],
                   metavar=('NAME', 'KEY=VALUE'),
                   help='extra calibration setting (v: JSON, or 2D)')
    p.add_argument('--out', help='write the numbers as JSON')
    return p.parse_args(argv)


def main(argv=None):
    from mmengine.config import Config
    import ldr_mm  # noqa: F401
    args = _parse(argv)
    torch.set_num_threads(1)
    settings = DEFAULT_SETTINGS + [(s[0], ' '.join(s[1:]))
                                   for s in args.setting]
    cols = ('val mAP', 'tail mAP', 'AUC', 'tail AUC')
    results = {}
    for run in args.run:
        cfg_path, ckpt = find_run(run)
        data = load_or_cache(Config.fromfile(cfg_path), ckpt, args.data_dir,
                             args.cache_dir)
        rows, who, n_pos = evaluate_run(data, settings)
        results[ckpt] = dict(rows=rows, calibrated=who, positives=n_pos)
        print(f'\n{ckpt}\n  D={data["splits"]["train"][0].shape[-1]} '
              f'positives {dict(zip(data["classes"], n_pos))}')
        for name, r in rows.items():
            print(f'  {name:14s} ' + '  '.join(
                f'{c} {v:.4f}' for c, v in zip(cols, r)) +
                  (f'  calibrated {sorted(who[name])}' if name in who
                   else ''), flush=True)
    if len(results) > 1:
        print(f'\nmean over {len(results)} checkpoints')
        names = list(next(iter(results.values()))['rows'])
        for name in names:
            m = np.mean([r['rows'][name] for r in results.values()], 0)
            print(f'  {name:14s} ' + '  '.join(
                f'{c} {v:.4f}' for c, v in zip(cols, m)))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(columns=cols, results=results), f, indent=1)


if __name__ == '__main__':
    main()
