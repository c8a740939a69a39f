"""The suite's output: results.md, results.json and per_class.png."""
import copy
import dataclasses
import json
import math
import os
import os.path as osp
import platform
import shlex
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ldr_mm.utils import atomic_call, atomic_write

from .configs import dataset_key, is_baseline, load_config, run_name
from .presets import (BEST_BASELINE, BEST_BASELINE_METRIC, BOOTSTRAP_COLUMNS,
                      COLUMNS, REPO)
from .settings import SuiteSettings
from .stats import mean_sd
from .validation import checkpoint_val_metrics


def _fmt(values: List[float]) -> str:
    mean, sd, n = mean_sd(values)
    if n == 0:
        return 'n/a'
    if n == 1:
        return f'{mean:.4f}'
    return f'{mean:.4f} ± {sd:.4f}'


def _mean(values):
    return mean_sd(values)[0]


def collect(configs: Sequence[str], runs: List) -> Dict:
    """Per-config metrics over seeds (runs: :class:`~.runs.Run`)."""
    out = OrderedDict()
    for config in configs:
        mine = [r for r in runs if r.config == config]
        metrics, val, val_seeds = [], [], []
        for r in mine:
            if r.status in ('done', 'reused'):
                with open(r.metrics_file) as f:
                    metrics.append(json.load(f))
                val_seeds.append(r.seed)
                val.append(checkpoint_val_metrics(
                    r.dir, r.record.get('checkpoint', '')) or {})
        out[run_name(config)] = dict(
            config=osp.relpath(config, REPO),
            seeds=[r.seed for r in mine],
            status=[r.status for r in mine],
            errors=[r.error for r in mine if r.error],
            metrics=[m['metrics'] for m in metrics],
            val_metrics=val,
            val_seeds=val_seeds,
            classes=metrics[0]['classes'] if metrics else None,
            test_positives=metrics[0]['positives'] if metrics else None,
            seconds=sum(r.record.get('train_seconds', 0) +
                        r.record.get('test_seconds', 0) for r in mine),
            runs=[r.record for r in mine])
    return out


def markdown_table(results: Dict, split: str = 'metrics') -> str:
    """One row per config: mean +- sd over seeds of ``split`` ('metrics':
    the test split; 'val_metrics': the validation split)."""
    header = ['config'] + [h for _, h in COLUMNS]
    rows, means = [], {}
    for name, res in results.items():
        if not res['metrics']:
            rows.append([f'`{name}`'] + ['failed'] * len(COLUMNS))
            continue
        cells = [f'`{name}`']
        for key, _ in COLUMNS:
            vals = [m.get(key) for m in res.get(split) or []]
            means[(name, key)] = _mean(vals)
            cells.append(_fmt(vals))
        rows.append(cells)
    # bold the best mean of every column
    for j, (key, _) in enumerate(COLUMNS, start=1):
        col = [(means.get((n, key), math.nan), i)
               for i, n in enumerate(results)]
        col = [(v, i) for v, i in col if not math.isnan(v)]
        if len(col) > 1:
            best = max(v for v, _ in col)
            for v, i in col:
                if v == best:
                    rows[i][j] = f'**{rows[i][j]}**'
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] + ['---:'] * len(COLUMNS)) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return '\n'.join(lines)


def tail_gap_lines(results: Dict) -> List[str]:
    """Tail mAP of every non-baseline config vs the best baseline."""
    base = [(_mean([m.get('mAP/tail') for m in r['metrics']]), n)
            for n, r in results.items()
            if is_baseline(r['config']) and r['metrics']]
    base = [(v, n) for v, n in base if not math.isnan(v)]
    if not base:
        return []
    best, best_name = max(base)
    lines = []
    for n, r in results.items():
        if is_baseline(r['config']) or not r['metrics']:
            continue
        v = _mean([m.get('mAP/tail') for m in r['metrics']])
        if not math.isnan(v):
            lines.append(f'- `{n}`: tail mAP {v:.4f}, {v - best:+.4f} vs the '
                         f'best baseline `{best_name}` ({best:.4f})')
    return lines


def best_baseline(results: Dict,
                  key: str = BEST_BASELINE_METRIC) -> Optional[Tuple[str,
                                                                     float]]:
    """The strongest baseline, chosen on the validation split.

    Args:
        results (dict): :func:`collect`'s output.
        key (str): The validation metric. Defaults to mean mAP.

    Returns:
        tuple | None: ``(name, mean validation value over its seeds)`` of the
        baseline config (``configs/baselines``: loss baselines and attention
        heads) with the highest value; ``None`` when no baseline has
        validation metrics.
    """
    cands = []
    for name, r in results.items():
        if not is_baseline(r['config']):
            continue
        v = _mean([m.get(key) for m in r['val_metrics'] if m])
        if not math.isnan(v):
            cands.append((v, name))
    if not cands:
        return None
    value, name = max(cands)
    return name, value


def resolve_reference(settings: SuiteSettings, results: Dict,
                      log: Callable[[str], None]) -> Tuple[SuiteSettings,
                                                           List[str]]:
    """``settings`` with ``--reference best-baseline`` replaced by the
    baseline it picks (:func:`best_baseline`), and the report's line on it."""
    if settings.reference != BEST_BASELINE:
        return settings, []
    best = best_baseline(results)
    if best is None:
        log('--reference best-baseline: no baseline has validation metrics; '
            'no comparison')
        return dataclasses.replace(settings, reference=None), []
    line = (f'Reference: `{best[0]}`, the baseline (loss or attention head) '
            f'with the best mean validation {BEST_BASELINE_METRIC} '
            f'({best[1]:.4f}; `--reference {BEST_BASELINE}`).')
    log(line)
    return dataclasses.replace(settings, reference=best[0]), [line, '']


def val_difference_lines(results: Dict, reference: str) -> List[str]:
    """Markdown lines: each config's validation difference to the
    reference, paired by seed (the table settings are chosen from).

    A cell is the mean ± sd over the seeds both have of (config - reference)
    at the same seed, and in how many of them the config is ahead.
    """
    ref = results.get(reference)
    if not ref:
        return []
    ref_by_seed = dict(zip(ref.get('val_seeds', []), ref['val_metrics']))
    rows = []
    for name, res in results.items():
        if name == reference:
            continue
        cells = []
        for key, _ in BOOTSTRAP_COLUMNS:
            d = [v[key] - ref_by_seed[s][key]
                 for s, v in zip(res.get('val_seeds', []), res['val_metrics'])
                 if key in v and key in ref_by_seed.get(s, {})]
            mean, sd, n = mean_sd(d)
            cells.append('n/a' if not n else f'{mean:+.4f}' + (
                f' ± {sd:.4f}' if n > 1 else '') +
                f' ({sum(x > 0 for x in d)}/{n})')
        rows.append(f'| `{name}` | ' + ' | '.join(cells) + ' |')
    if not rows:
        return []
    return [
        f'Validation difference to `{reference}` (config minus `{reference}` '
        'at the same seed: mean ± sd over seeds, in brackets the seeds where '
        'the config is ahead; choose settings from this table):', '',
        '| config | ' + ' | '.join(h for _, h in BOOTSTRAP_COLUMNS) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * len(BOOTSTRAP_COLUMNS)) + '|'
    ] + rows + ['']


def hardware() -> str:
    cpu = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    import torch
    gpu = (f', GPU {torch.cuda.get_device_name(0)}'
           if torch.cuda.is_available() else ', no GPU')
    return (f'{os.cpu_count()} CPU cores ({cpu}){gpu}; Python '
            f'{platform.python_version()}, torch {torch.__version__}')


def dataset_info(cfg_file: str) -> Dict:
    """Classes, training positives and head / tail classes of a run config.

    Returns:
        dict: ``classes``, ``train_positives`` (C,), ``head_classes``,
        ``tail_classes`` (from the training dataset's metainfo).
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    from ldr_mm.engine.hooks import dataset_class_frequencies
    cfg = Config.fromfile(cfg_file)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.pipeline = []
    dataset = DATASETS.build(ds_cfg)
    counts, _ = dataset_class_frequencies(dataset)
    meta = dataset.metainfo
    return dict(classes=list(meta['classes']),
                train_positives=counts.tolist(),
                head_classes=list(meta.get('head_classes') or []),
                tail_classes=list(meta.get('tail_classes') or []))


def plot_per_class(results: Dict, classes, counts, head, path: str) -> None:
    """Per-class AP and AUC against training positives, one line a config."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    order = sorted(range(len(classes)), key=lambda i: -counts[i])
    labels = [f'{classes[i]}\n({counts[i]})' for i in order]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, len(classes) * 0.9) + 4,
                                            9), sharex=True)
    markers = 'os^vD<>pP*Xh'
    cmap = plt.get_cmap('tab10' if len(results) <= 10 else 'tab20')
    for k, (name, res) in enumerate(results.items()):
        if not res['metrics']:
            continue
        for ax, prefix in zip(axes, ('mAP', 'auc')):
            ys = [_mean([m.get(f'{prefix}/class/{classes[i]}')
                         for m in res['metrics']]) for i in order]
            style = '-' if not is_baseline(res['config']) else '--'
            ax.plot(range(len(order)), ys, style, color=cmap(k % cmap.N),
                    marker=markers[k % len(markers)], label=name,
                    linewidth=2 if not is_baseline(res['config']) else 1)
    for ax, title in zip(axes, ('AP', 'ROC AUC')):
        if head:  # tail classes shaded
            for x, i in enumerate(order):
                if classes[i] not in head:
                    ax.axvspan(x - 0.5, x + 0.5, color='0.92', zorder=0,
                               linewidth=0)
        ax.set_ylabel(f'test {title}')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1),
                   borderaxespad=0)
    axes[0].set_title('Per-class test results (classes by training '
                      'positives; tail shaded; baselines dashed)')
    axes[1].set_xticks(range(len(order)))
    axes[1].set_xticklabels(labels, fontsize=8)
    axes[1].set_xlabel('class (training positives)')
    fig.tight_layout()
    atomic_call(path, lambda p: fig.savefig(p, dpi=110, format='png'))
    plt.close(fig)




def _signed(v: float) -> str:
    return 'n/a' if math.isnan(v) else f'{v:+.4f}'


def comparison_table(comparison: Dict) -> List[str]:
    """Markdown lines: each config's difference to the reference."""
    ref, diffs = comparison['reference'], comparison['diffs']
    level = f'{comparison["confidence"] * 100:g}%'
    lines = [
        f'Difference to `{ref}` (mean over seeds of the config minus that '
        f'of `{ref}`, on the test set; in brackets the {level} paired-'
        f'bootstrap interval over test images, {comparison["resamples"]} '
        'resamples shared by all configs; * where it excludes 0):', '',
        '| config | ' + ' | '.join(h for _, h in BOOTSTRAP_COLUMNS) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * len(BOOTSTRAP_COLUMNS)) + '|']
    for name, d in diffs.items():
        cells = []
        for key, _ in BOOTSTRAP_COLUMNS:
            x = d[key]
            sig = '*' if x['low'] > 0 or x['high'] < 0 else ''
            cells.append(f'{_signed(x["diff"])}{sig} [{_signed(x["low"])}, '
                         f'{_signed(x["high"])}]')
        lines.append(f'| `{name}` | ' + ' | '.join(cells) + ' |')
    lines.append('')
    for name, why in comparison['skipped'].items():
        lines.append(f'- `{name}`: no interval ({why})')
    return lines + ([''] if comparison['skipped'] else [])


def header_lines(settings: SuiteSettings, argv: Sequence[str],
                 total_s: float, t_start: float) -> Tuple[List[str], str]:
    """Lines on command, seeds, hardware, settings and time; the command."""
    changed = '; '.join(settings.describe()) or 'the configs as they are'
    cmd = 'python ' + shlex.join(['tools/benchmark_suite.py'] + list(argv))
    return [
        '# Benchmark results', '',
        f'Command: `{cmd}`  ',
        f'Seeds: {", ".join(map(str, settings.seeds))}  ',
        f'Hardware: {hardware()}  ',
        f'Settings: {changed}  ',
        f'Train + test time of all runs: {total_s / 60:.1f} min (this '
        f'invocation: {(time.time() - t_start) / 60:.1f} min)', ''], cmd


def dataset_lines(cfg_file: str, meta: Dict) -> List[str]:
    d = dataset_key(load_config(cfg_file))
    return [
        f'Dataset: {d[0]} (`{d[1]}`); test metrics of the best validation '
        'checkpoint; head classes: '
        f'{", ".join(meta["head_classes"]) or "-"}; all / head / tail are '
        'means over classes; mean ± sample sd over the seeds. mACC: '
        'per-class accuracy at 0.5, bACC: per-class balanced accuracy at 0.5 '
        '(docs/metrics.md).', '']


def failed_lines(runs: List) -> List[str]:
    failed = [r for r in runs if r.status == 'failed' or
              r.status.startswith('skipped')]
    if not failed:
        return []
    return ['Failed runs:', ''] + [
        f'- `{r.name}` seed {r.seed}: {r.status}: '
        f'{r.error.splitlines()[0] if r.error else ""}' for r in failed
    ] + ['']


def write_reports(settings: SuiteSettings, configs: Sequence[str],
                  runs: List, argv: Sequence[str], t_start: float,
                  log: Callable[[str], None]) -> Dict:
    """Write results.md / results.json / per_class.png; return results."""
    from .compare import compare_to_reference
    results = collect(configs, runs)
    first = next((r for r in runs if r.status in ('done', 'reused')
                  and r.config in configs), None)
    meta = dict(classes=None)
    if first is not None:
        cfg_file = osp.join(first.dir, f'{first.name}.py')
        meta = dataset_info(cfg_file)
        plot_per_class(results, meta['classes'], meta['train_positives'],
                       meta['head_classes'],
                       osp.join(settings.work_dir, 'per_class.png'))
    total = sum(r.record.get('train_seconds', 0) +
                r.record.get('test_seconds', 0) for r in runs)
    lines, cmd = header_lines(settings, argv, total, t_start)
    if meta['classes']:
        lines += dataset_lines(cfg_file, meta)
    lines += ['Test split:', '', markdown_table(results), '']
    if any(any(v) for r in results.values() for v in r['val_metrics']):
        lines += ['Validation split (the same checkpoints, as validated '
                  'during training; choose settings from this table, not '
                  'from the test split):', '',
                  markdown_table(results, 'val_metrics'), '']
    comparison = None
    settings, ref_lines = resolve_reference(settings, results, log)
    lines += ref_lines
    if settings.reference:
        lines += val_difference_lines(results, settings.reference)
    if settings.reference and settings.bootstrap and meta['classes']:
        comparison = compare_to_reference(configs, runs, settings, meta, log)
        lines += comparison_table(comparison)
    gaps = tail_gap_lines(results)
    if gaps:
        lines += ['Tail mAP against the best baseline (configs/baselines):',
                  ''] + gaps + ['']
    lines += failed_lines(runs)
    if meta['classes']:
        lines += ['Per-class AP / AUC: `per_class.png`.', '']
    md = '\n'.join(lines)
    with atomic_write(osp.join(settings.work_dir, 'results.md')) as f:
        f.write(md)
    with atomic_write(osp.join(settings.work_dir, 'results.json')) as f:
        json.dump(dict(command=cmd, seeds=settings.seeds,
                       hardware=hardware(), settings=settings.describe(),
                       dataset=meta, results=results,
                       comparison=comparison), f, indent=1)
    log('\n' + md)
    return results
