r"""Train and test a set of configs on one dataset and tabulate the results.

For every config and seed: ``tools/train.py`` (same seed for all configs),
the best validation checkpoint (``best_*.pth``; the last one when the config
keeps no best), then ``tools/test.py --metrics-out --out`` on the test split.
Stage-2 configs (those with ``model.stage1_checkpoint``) are chained: their
stage-1 config is trained first (same seed, same settings) and its best
checkpoint is passed as ``model.stage1_checkpoint``. The stage-1 config is
the config's ``stage1_config`` variable (a path relative to the config), or
else its nearest ``_base_`` ancestor that is not a stage-2 config. A config
with ``stage1_config`` but no ``model.stage1_checkpoint`` (the train-longer
controls ``*_stage1_longer.py``) is chained the same way through
``load_from``.

Writes into ``--work-dir``::

    results.md      one markdown table: all / head / tail AUC and mAP, mACC
                    and bACC (mean +- sd over seeds); with --reference, each
                    config's difference to the reference config with a
                    paired-bootstrap interval over test images; the
                    command, seeds, settings and hardware
    results.json    the same numbers, per-class values and run records
    per_class.png   per-class AP and AUC of every config against the class's
                    training positives
    <config>/seed<k>/   the run: <config>.py (the exact resolved config),
                    checkpoints, train/test logs, test_metrics.json,
                    test_scores.json, run.json

Resumable: a run whose ``run.json`` exists is reused (unless ``--force``),
provided it was made with the same resolved config; otherwise the suite
stops and says so. A failed run is reported and the suite goes on with the
runs that do not depend on it; the exit status is 1 if any run failed.

Examples::

    # the demo comparison of docs/results.md (see docs/baselines.md): every
    # demo baseline, LDR and ablation config, a narrow ResNet-18, three
    # seeds, differences to the strongest baseline (best validation mAP)
    python tools/benchmark_suite.py --preset all-demo --seeds 0 1 2 \
        --backbone-width 16 --threads 1 --reference best-baseline \
        --work-dir work_dirs/bench_demo

    # the paper's alpha sweep (Fig. 3a) on the demo: stage 2 with values
    python tools/benchmark_suite.py \
        configs/ldrnet/ldr_r18_demo_stage2_paper.py@alpha=0.1 \
        configs/ldrnet/ldr_r18_demo_stage2_paper.py@alpha=0.5 \
        --backbone-width 16 --threads 1 --work-dir work_dirs/bench_alpha

    # your own set, three seeds
    python tools/benchmark_suite.py configs/baselines/bce_r50_nih.py \
        configs/baselines/dbloss_r50_nih.py \
        configs/ldrnet/ldr_r50_nih_stage1.py \
        --seeds 0 1 2 --reference bce_r50_nih --work-dir work_dirs/bench_nih

    # the runs of a preset, without training (checks configs and variants)
    python tools/benchmark_suite.py --preset all-spa --dry-run \
        --work-dir /tmp/plan

    # CI: every config end to end on tiny data in a few seconds each
    python tools/benchmark_suite.py --preset all-demo --smoke \
        --work-dir /tmp/smoke
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import Callable, List, Optional, Tuple

from .configs import SuiteError, dataset_key, load_config, repo_path, run_name
from .presets import BEST_BASELINE, PRESETS
from .report import write_reports
from .runs import plan_runs, run_all
from .settings import SuiteSettings
from .variants import PARAMETERS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='tools/benchmark_suite.py',
        description=__doc__.split('\n')[0],
        epilog=__doc__.split('\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('configs', nargs='*', help='config files; CONFIG.py@NAME=VALUE[,'
        'NAME=VALUE] runs a config with values (a parameter ablation, '
        'NAME: ' + ', '.join(PARAMETERS) + ' or a dotted config key)')
    add('--preset', action='append', choices=sorted(PRESETS),
        help='a named set of configs (repeatable)')
    add('--work-dir', required=True)
    add('--seeds', type=int, nargs='+', default=[0])
    add('--force', action='store_true',
        help='retrain runs whose results exist')
    add('--smoke', action='store_true',
        help='tiny backbone, images and data, 2 iterations')
    add('--epochs', type=int, help='shorten epoch-based schedules to N epochs')
    add('--backbone-width', type=int,
        help='replace the backbone by a ResNet-18 with W base channels (8W-d '
        'features) in every config')
    add('--pretrained', metavar='CKPT',
        help='initialise the backbone of every stage-1 and baseline run from '
        'the backbone.* weights of this checkpoint (e.g. a run of another '
        'benchmark: the pretrained regime, docs/recipe.md); stage-2 runs '
        'and the train-longer control start from their stage 1')
    add('--lr', type=float,
        help='optimizer learning rate of every stage-1 and baseline run '
        '(e.g. 1e-4, the fine-tuning rate of the medical configs); stage '
        "2's E-step and the train-longer control keep their own")
    add('--data-root', help='data_root of the train/val/test datasets')
    add('--in-process', action='store_true',
        help='run tools/train.py and tools/test.py in this process (faster '
        'start; used by the tests)')
    add('--threads', type=int,
        help='CPU threads of each run (torch / OpenMP); on a busy machine 1 '
        'can be much faster')
    add('--fail-fast', action='store_true',
        help='stop at the first failed run')
    add('--dry-run', action='store_true',
        help='list the runs (stage-1 runs first) and exit: checks the '
        'configs, presets and variants without training')
    add('--jobs', type=int, default=1,
        help='runs trained at the same time (default 1); a stage-2 run '
        'waits for its stage 1. Give each --threads so that jobs x threads '
        'is at most the CPU cores, e.g. --jobs 2 --threads 1 on 2 cores')
    add('--reference',
        help='config name (file name without .py, one of the configs) the '
        'others are compared with: differences of the seed means with '
        f'paired-bootstrap intervals over the test images; {BEST_BASELINE}:'
        ' the baseline (configs/baselines: losses and attention heads) with '
        'the best mean validation mAP')
    add('--bootstrap', type=int, default=1000,
        help='bootstrap resamples for --reference (default 1000)')
    add('--confidence', type=float, default=0.95,
        help='level of the bootstrap intervals (default 0.95)')
    add('--bootstrap-seed', type=int, default=0,
        help='seed of the bootstrap resampling (default 0)')
    from mmengine.config import DictAction
    add('--cfg-options', nargs='+', action=DictAction,
        help='overrides applied to every config')
    return parser


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.configs and not args.preset:
        parser.error('give config files and/or --preset')
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if args.jobs > 1 and args.in_process:
        parser.error('--jobs > 1 runs the tools as subprocesses; drop '
                     '--in-process (or use --jobs 1)')
    for k in ('epochs', 'backbone_width', 'threads', 'bootstrap'):
        v = getattr(args, k)
        if v is not None and v < (0 if k == 'bootstrap' else 1):
            parser.error(f'--{k.replace("_", "-")} must be >= '
                         f'{0 if k == "bootstrap" else 1}')
    if args.lr is not None and not args.lr > 0:
        parser.error(f'--lr must be > 0, got {args.lr}')
    if args.pretrained:
        if not osp.isfile(args.pretrained):
            parser.error(f'--pretrained {args.pretrained}: no such file')
        args.pretrained = osp.abspath(args.pretrained)
    if not 0 < args.confidence < 1:
        parser.error(f'--confidence must be in (0, 1), got {args.confidence}')
    return args


def resolve_configs(args: argparse.Namespace) -> List[str]:
    """Config paths of the arguments and presets (unique, in order), all on
    one dataset; the ``--reference`` among them."""
    configs = []
    for c in list(args.configs) + [p for n in args.preset or []
                                   for p in PRESETS[n]]:
        path = repo_path(c)
        if path not in configs:
            configs.append(path)
    keys = {}
    for c in configs:
        key = dataset_key(load_config(c))
        if args.data_root:
            key = key[:1]  # the roots are overridden
        keys.setdefault(key, []).append(run_name(c))
    if len(keys) > 1:
        raise SuiteError('The suite compares configs on one dataset, but '
                         'these differ: ' + '; '.join(
                             f'{k}: {v}' for k, v in keys.items()))
    names = [run_name(c) for c in configs]
    if args.reference and args.reference != BEST_BASELINE and \
            args.reference not in names:
        raise SuiteError(f'--reference {args.reference} is not one of the '
                         f'configs: {", ".join(names)} (give the file name '
                         f'without .py, and add its config, or '
                         f'{BEST_BASELINE})')
    return configs


def run_suite(argv: List[str], log: Callable[[str], None],
              report_log: Optional[Callable[[str], None]] = None) -> Tuple:
    """Parse ``argv`` (the command line's options), train / test / reuse
    every run and write the reports into ``--work-dir``.

    Args:
        argv (list[str]): Options of ``tools/benchmark_suite.py``.
        log (callable): Progress lines.
        report_log (callable, optional): Lines of the reports (the whole
            results.md); ``log`` when None.

    Returns:
        tuple: :class:`SuiteSettings`, the runs (:class:`~.runs.Run`) and the
        per-config results (:func:`~.report.collect`; None with
        ``--dry-run``, which trains nothing).
    """
    args = parse_args(argv)
    t_start = time.time()
    opts = {k: v for k, v in vars(args).items()
            if k not in ('configs', 'preset', 'dry_run')}
    settings = SuiteSettings(**dict(opts, work_dir=osp.abspath(
        args.work_dir)))
    if not args.dry_run:
        os.makedirs(settings.work_dir, exist_ok=True)
    import ldr_mm  # noqa: F401  (registers components)
    configs = resolve_configs(args)
    runs = plan_runs(configs, settings.seeds, settings.work_dir)
    log(f'{len(runs)} runs: ' + ', '.join(
        f'{r.name}/seed{r.seed}' for r in runs))
    if args.dry_run:
        for r in runs:
            log(f'{r.name} seed {r.seed}: {r.config}' + (
                f' (after {r.stage1.name})' if r.stage1 else ''))
        return settings, runs, None
    run_all(runs, settings, log)
    results = write_reports(settings, configs, runs, argv, t_start,
                            report_log or log)
    return settings, runs, results


def main(argv: Optional[List[str]] = None) -> int:
    """The command line; returns the exit status (1 if a run failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def log(msg):
        print(f'[suite] {msg}', flush=True)

    _, runs, results = run_suite(argv, log)
    if results is None:  # --dry-run
        return 0
    bad = [r for r in runs if r.status not in ('done', 'reused')]
    return 1 if bad else 0
