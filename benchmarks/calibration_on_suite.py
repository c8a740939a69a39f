"""ECE before / after post-hoc calibration on a benchmark suite's runs.

For every finished run of a ``tools/benchmark_suite.py`` work dir
(``<config>/seed<k>/`` with ``run.json`` and ``test_scores.json``), fits
each calibration method on the run's **validation** scores
(``val_scores.json`` beside them), applies it to the test scores, and
reports, per config as mean +- sd over seeds: mean ECE (equal-mass bins),
classwise ECE (equal-width bins) and mean Brier on the test split before and
after, and the largest change of any class's AUC / AP (0 up to float
rounding: the maps are strictly increasing). Masked label cells are left
out of their class everywhere. Definitions: docs/metrics.md.

The suite writes no validation scores; ``--make-val`` writes the missing
``val_scores.json`` with ``tools/test.py --split val --out`` on the run's
tested checkpoint (``run.json``) and resolved config (an evaluation pass,
no training). Nothing is fitted on the test split.

Example (the lead's command after the 3-seed suites)::

    python benchmarks/calibration_on_suite.py \\
        --work-dir work_dirs/bench_demo \\
        --make-val --out work_dirs/bench_demo/calibration.md
"""
import argparse
import glob
import json
import os.path as osp

import numpy as np

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))

MEASURES = ('ece', 'cw_ece', 'brier')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='ECE / Brier before and after calibration fitted on '
        'validation, per config of a benchmark suite work dir')
    parser.add_argument('--work-dir', required=True,
                        help='a tools/benchmark_suite.py --work-dir')
    parser.add_argument('--methods', nargs='+',
                        default=['temperature', 'platt', 'isotonic'],
                        choices=['temperature', 'platt', 'isotonic'])
    parser.add_argument('--bins', type=int, default=15,
                        help='ECE bins (default 15)')
    parser.add_argument('--make-val', action='store_true',
                        help='write missing val_scores.json with '
                        'tools/test.py --split val (an evaluation pass)')
    parser.add_argument('--out', help='also write the table (.md) and, '
                        'beside it, the numbers (.json)')
    args = parser.parse_args(argv)
    if args.bins < 1:
        parser.error('--bins must be >= 1')
    return args


def find_runs(work_dir: str):
    """(config name, seed, run dir) of every finished run, sorted."""
    runs = []
    for rec in sorted(glob.glob(osp.join(work_dir, '*', 'seed*',
                                         'run.json'))):
        d = osp.dirname(rec)
        if osp.isfile(osp.join(d, 'test_scores.json')):
            runs.append((osp.basename(osp.dirname(d)),
                         int(osp.basename(d)[4:]), d))
    if not runs:
        raise SystemExit(f'No finished runs (run.json + test_scores.json) '
                         f'under "{work_dir}"')
    return runs


def make_val_scores(run_dir: str, name: str) -> None:
    """tools/test.py --split val --out val_scores.json for one run."""
    import importlib.util
    with open(osp.join(run_dir, 'run.json')) as f:
        ckpt = json.load(f)['checkpoint']
    spec = importlib.util.spec_from_file_location(
        'ldr_mm_test_tool', osp.join(REPO, 'tools', 'test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([osp.join(run_dir, f'{name}.py'), ckpt, '--split', 'val',
               '--out', osp.join(run_dir, 'val_scores.json'),
               '--work-dir', osp.join(run_dir, 'test_val'),
               '--bootstrap', '0'])


def measures(scores, gt, bins: int) -> dict:
    from ldr_mm.evaluation.calibration import (brier_per_class,
                                               ece_equal_mass,
                                               ece_equal_width)
    return dict(ece=float(np.nanmean(ece_equal_mass(scores, gt, bins))),
                cw_ece=float(np.nanmean(ece_equal_width(scores, gt, bins))),
                brier=float(np.nanmean(brier_per_class(scores, gt))))


def _max_change(a, b) -> float:
    d = np.abs(a - b)
    return float(np.nanmax(d)) if np.isfinite(d).any() else 0.0


def evaluate_run(run_dir: str, methods, bins: int) -> dict:
    """Before / after numbers of one run (fit on val, measure on test)."""
    from ldr_mm.evaluation import (average_precision_per_class,
                                   read_score_file, roc_auc_per_class)
    from ldr_mm.evaluation.calibration import (apply_calibration,
                                               fit_calibration)
    val = read_score_file(osp.join(run_dir, 'val_scores.json'))
    test = read_score_file(osp.join(run_dir, 'test_scores.json'))
    if val.classes != test.classes:
        raise SystemExit(f'{run_dir}: val and test score files have other '
                         f'classes ({val.classes} vs {test.classes})')
    auc = roc_auc_per_class(test.scores, test.gt)
    ap = average_precision_per_class(test.scores, test.gt)
    out = dict(before=measures(test.scores, test.gt, bins))
    for m in methods:
        maps = fit_calibration(val.scores, val.gt, m, val.classes)
        cal = apply_calibration(test.scores, maps)
        res = measures(cal, test.gt, bins)
        res['max_auc_change'] = _max_change(
            auc, roc_auc_per_class(cal, test.gt))
        res['max_ap_change'] = _max_change(
            ap, average_precision_per_class(cal, test.gt))
        out[m] = res
    return out


def summarise(per_run: dict, methods) -> list:
    """Table rows: config, seeds, before / after (mean +- sd) per measure,
    the largest AUC / AP change over seeds and methods."""
    rows = []
    for name, seeds in per_run.items():
        vals = list(seeds.values())

        def cell(setting, key):
            v = np.array([r[setting][key] for r in vals])
            sd = f' +- {v.std(ddof=1):.4f}' if len(v) > 1 else ''
            return f'{v.mean():.4f}{sd}'

        row = [name, len(vals)]
        for key in MEASURES:
            row += [cell('before', key)] + [cell(m, key) for m in methods]
        row.append(max(max(r[m]['max_auc_change'], r[m]['max_ap_change'])
                       for r in vals for m in methods))
        rows.append(row)
    return rows


def markdown(rows, methods, bins: int) -> str:
    head = ['config', 'seeds']
    for key in MEASURES:
        head += [f'{key} before'] + [f'{key} {m}' for m in methods]
    head.append('max |dAUC|, |dAP|')
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for r in rows:
        lines.append('| ' + ' | '.join(
            f'{v:.1e}' if isinstance(v, float) else str(v) for v in r) +
            ' |')
    return '\n'.join(lines) + (
        f'\n\nTest split; calibration fitted on the validation split; ECE '
        f'with {bins} bins (ece: equal-mass, cw_ece: equal-width, mean over '
        'classes = classwise ECE); mean +- sd over seeds.\n')


def main(argv=None):
    args = parse_args(argv)
    per_run = {}
    for name, seed, d in find_runs(args.work_dir):
        if not osp.isfile(osp.join(d, 'val_scores.json')):
            if not args.make_val:
                raise SystemExit(f'{d} has no val_scores.json: rerun with '
                                 '--make-val (tools/test.py --split val)')
            make_val_scores(d, name)
        per_run.setdefault(name, {})[seed] = evaluate_run(
            d, args.methods, args.bins)
    rows = summarise(per_run, args.methods)
    text = markdown(rows, args.methods, args.bins)
    print(text)
    if args.out:
        from ldr_mm.utils import atomic_write
        with atomic_write(args.out) as f:
            f.write(text)
        with atomic_write(osp.splitext(args.out)[0] + '.json') as f:
            json.dump(dict(bins=args.bins, methods=args.methods,
                           runs=per_run), f, indent=1)
    return per_run


if __name__ == '__main__':
    main()
