"""`make demo`: the strongest baseline, LDR stage 1, LDR stage 2 and LDR
stage 2 on the CSRA baseline on the built-in demo data, trained the same
way, printed side by side.

The rows are the benchmark suite's (``tools/benchmark_suite.py``) preset
``make-demo``: its strongest demo baseline (``benchmark.DEMO_BASELINE``),
the recommended LDR stage 1 and stage 2 (``configs/ldrnet/
ldr_r18_demo_stage{1,2}.py``) and LDR's stage 2 on the CSRA baseline's
checkpoint (``configs/ldrnet/ldr_r18_demo_stage2_csra.py``). They are
trained by the suite itself with the settings of its demo results
(``docs/results_demo.md``: a ResNet-18 with 16 base channels, one CPU thread
per run), for seed 0, two runs at a time (baseline and stage 1, then each
stage 2 once its stage-1 run is done). So each row is one seed of the
suite's 3-seed table, and a run made here is reused by the suite (same work
dir, same settings) and the other way round.

Steps:
  1. generate the long-tailed multi-label demo dataset (data/ldr_demo);
  2. the suite: the random-CLIP prompt cache, then train and test each row
     (the best validation checkpoint on the test split); results.md,
     results.json and per_class.png land in the work dir;
  3. say what each row is, print all / head / tail AUC and mAP of the rows
     and LDR's differences to the baseline, and say plainly where each LDR
     row is behind.

``--full`` trains the configs as written (the full-width ResNet-18, 64 base
channels; several times slower) into another work dir.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
DATA = 'data/ldr_demo'
#: The suite's preset with the demo's rows (baseline, then the LDR rows).
PRESET = 'make-demo'
#: Column labels of the preset's LDR rows, in its order (after the baseline).
LDR_LABELS = ('LDR stage 1', 'LDR stage 2', 'LDR stage 2 on CSRA')
#: Suite options of the demo results (docs/results_demo.md) but the seed;
#: --full drops the narrow backbone. Two runs at a time, one thread each.
QUICK = ['--backbone-width', '16', '--threads', '1', '--jobs', '2']
FULL = ['--threads', '1', '--jobs', '2']
#: Work dirs when --work-dir is not given (the suite refuses to mix runs of
#: other settings in one work dir).
WORK_DIRS = dict(quick='work_dirs/demo', full='work_dirs/demo_full')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir',
                        help=f'output directory (default {WORK_DIRS["quick"]},'
                        f' with --full {WORK_DIRS["full"]})')
    parser.add_argument('--full', action='store_true',
                        help='the configs as written: full-width ResNet-18 '
                        '(slower)')
    parser.add_argument('--force', action='store_true',
                        help='retrain even if results exist')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--smoke', action='store_true',
                        help="the suite's smoke mode: tiny data and backbone, "
                        '2 iterations a row (a check of the plumbing, not '
                        'of the method; tests)')
    return parser.parse_args(argv)


def suite_argv(args) -> list:
    """The benchmark suite's options for the demo (its command line)."""
    work_dir = args.work_dir or WORK_DIRS['full' if args.full else 'quick']
    return (['--preset', PRESET, '--seeds', str(args.seed), '--work-dir',
             work_dir, '--bootstrap', '0'] + (FULL if args.full else QUICK) +
            (['--force'] if args.force else []) +
            (['--smoke'] if args.smoke else []))


def make_dataset(work_dir: str) -> None:
    """The demo dataset (once; reused when it exists), its counts printed."""
    os.makedirs(work_dir, exist_ok=True)
    log = osp.join(work_dir, 'dataset.log')
    with open(log, 'w') as f:
        proc = subprocess.run(
            [sys.executable, 'tools/misc/make_demo_dataset.py', DATA],
            cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    with open(log) as f:
        text = f.read()
    if proc.returncode != 0:
        raise SystemExit(f'{text[-3000:]}\nMaking the demo dataset failed; '
                         f'log: {log}')
    print(text, flush=True)


def demo_table(results: dict, baseline: str, ldr: dict) -> tuple:
    """The printed table: one row a metric, one column a config, then LDR's
    differences to the baseline.

    Args:
        results (dict): The suite's per-config results (``collect``).
        baseline (str): Run name of the baseline row.
        ldr (dict): {run name: column label} of the LDR rows, in order.

    Returns:
        tuple: (the table as text, {label: ([where LDR is behind], [where
        it is ahead]), each 'metric (difference)'}).
    """
    from benchmark import COLUMNS
    from ldr_mm.evaluation.report import format_table
    value = {n: results[n]['metrics'][0] for n in [baseline, *ldr]}
    header = ['metric', baseline] + list(ldr.values()) + [
        f'{label} - baseline' for label in ldr.values()]
    rows, verdict = [], {label: ([], []) for label in ldr.values()}
    for key, metric in COLUMNS[:6]:  # all / head / tail AUC and mAP
        base = value[baseline][key]
        diffs = [value[n][key] - base for n in ldr]
        rows.append([metric, f'{base:.4f}'] +
                    [f'{value[n][key]:.4f}' for n in ldr] +
                    [f'{d:+.4f}' for d in diffs])
        for label, d in zip(ldr.values(), diffs):
            verdict[label][d >= 0].append(f'{metric} ({d:+.4f})')
    return format_table(header, rows), verdict


def verdict_lines(verdict: dict, baseline: str) -> list:
    """One plain line per LDR row: where it is behind the baseline, and
    where it is ahead."""
    lines = []
    for label, (behind, ahead) in verdict.items():
        if not behind:
            lines.append(f'{label} is ahead of {baseline} on every column.')
            continue
        lines.append(f'{label} is BEHIND {baseline} on: {", ".join(behind)}'
                     + (f'; ahead on: {", ".join(ahead)}.' if ahead else
                        ' (every column).'))
    return lines


def row_lines(runs: list, labels: dict) -> list:
    """One line per row: its label, config and what it starts from (the
    stage-1 run the suite chained it to; else trained from scratch).

    Args:
        runs (list): The suite's runs (:class:`benchmark.runs.Run`) of the
            rows, in the table's order.
        labels (dict): {run name: column label}; the baseline's label is
            its run name.
    """
    lines = []
    for run in runs:
        start = (f"LDR's stage 2 on the {run.stage1.name} run"
                 if run.stage1 is not None else 'trained from scratch')
        lines.append(f'  {labels[run.name]}: {run.name} ({start})')
    return lines


def time_line(results: dict, names: list) -> str:
    """Wall and CPU seconds of each row's training + test (its run.json)."""
    parts = []
    for n in names:
        rec = results[n]['runs'][0]
        wall = rec.get('train_seconds', 0) + rec.get('test_seconds', 0)
        cpu = rec.get('cpu_seconds')
        parts.append(f'{n} {wall:.0f} s' +
                     (f' (CPU {cpu:.0f} s)' if cpu is not None else ''))
    return 'Train + test time: ' + ', '.join(parts) + '.'


def main(argv=None):
    args = parse_args(argv)
    if args.work_dir:  # relative to where it was given, not to REPO
        args.work_dir = osp.abspath(args.work_dir)
    os.chdir(REPO)
    from benchmark import run_name, run_suite
    t0 = time.time()
    argv_suite = suite_argv(args)
    work_dir = argv_suite[argv_suite.index('--work-dir') + 1]
    print(f'[1/3] demo dataset ({DATA})', flush=True)
    if not args.smoke:  # (smoke runs make their own tiny copy)
        make_dataset(work_dir)
    print('[2/3] $ python tools/benchmark_suite.py ' + ' '.join(argv_suite),
          flush=True)
    _, runs, results = run_suite(
        argv_suite, log=lambda m: print(f'  [suite] {m}', flush=True),
        report_log=lambda m: None)
    failed = [f'{r.name}: {r.status} {(r.error or "").split(chr(10))[0]}'
              for r in runs if r.status not in ('done', 'reused')]
    if failed:
        raise SystemExit('The demo failed:\n  ' + '\n  '.join(failed) +
                         f'\nLogs: {work_dir}/<config>/seed{args.seed}/')
    from benchmark import PRESETS
    names = [run_name(c) for c in PRESETS[PRESET]]
    ldr = dict(zip(names[1:], LDR_LABELS))
    table, verdict = demo_table(results, names[0], ldr)
    from ldr_mm.datasets.demo import DEMO_SPLITS
    width = ('SMOKE MODE (tiny data, 2 iterations: numbers mean nothing)'
             if args.smoke else 'full-width ResNet-18' if args.full else
             'ResNet-18 with 16 base channels')
    print(f'\n[3/3] Demo test split ({DEMO_SPLITS["test"]} images; head = the '
          f'4 most frequent classes, tail = the 6 rarest), seed {args.seed}, '
          f'{width}, best validation checkpoint of each row. The rows:')
    print(f'  {names[0]}: the baseline, the strongest of the suite on the '
          f'demo ({PRESETS[PRESET][0]})')
    by_name = {r.name: r for r in runs}
    print('\n'.join(row_lines([by_name[n] for n in names[1:]], ldr)) + '\n')
    print(table + '\n')
    print('\n'.join(verdict_lines(verdict, names[0])))
    print(time_line(results, names))
    print(f'\nOne seed; the suite\'s 3-seed means and intervals: '
          f'docs/results_demo.md (LDR stage 2 on CSRA: docs/baselines.md). '
          f'This run: {work_dir}/results.md. '
          f'Total time {time.time() - t0:.0f} s.')


if __name__ == '__main__':
    main()
