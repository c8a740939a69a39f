"""Test (evaluate) a checkpoint and print per-class and summary tables.

MMPretrain's ``tools/test.py`` arguments, plus: the per-class metrics are
switched on and printed as a table (class, group, positives, AUC, AP, and
mACC / balanced accuracy when the config evaluates them), with a summary of
all / head / tail means and, for ODIR-5K, the official score table; and
``--out scores.csv|scores.json`` writes per-image scores and labels.

The checkpoint is loaded strictly (:func:`load_checkpoint`), not through
MMEngine's non-strict ``load_from``: other keys or shapes, or class names
(``meta.dataset_meta.classes``) that differ from the evaluated dataset's, in
names or order, stop the run with a message naming the file and the
difference, before anything is evaluated.

Decisions: ``--thresholds`` (one number, or a decision file of
``tools/misc/choose_thresholds.py``: thresholds and, optionally, a
per-class calibration) is applied to the model's predictions before
anything sees them (:func:`ldr_mm.evaluation.decide_samples`): the metrics,
the clinical report, the calibration report and ``--show-dir`` all get the
calibrated probabilities and the labels at the file's thresholds. A file
made for other classes (names or order) stops the run before testing.
``--out`` keeps the model's uncalibrated scores.

Calibration report (``MultiLabelCalibration``): per-class and mean ECE
(equal-mass bins), classwise ECE (equal-width bins) and Brier score
(``--calibration-bins B``); reliability diagrams in ``--curves-dir``.

Clinical report (``MultiLabelClinicalReport``): sensitivity, specificity,
PPV, NPV and F1 at ``--thresholds`` (0.5 or a thresholds file), bootstrap
confidence intervals of AUC / AP (``--bootstrap N --bootstrap-seed S
--ci-level L``), ROC / PR curves (``--curves-dir``), head / tail groups by
training frequency (``--groups frequency --freq-threshold N``). As
MMPretrain's: ``--show-dir DIR --interval K`` and ``--amp`` (GPU only).
"""
import argparse
import os
import os.path as osp

import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


#: Metrics whose per-class values the tables print.
PER_CLASS_METRICS = ('MultiLabelAUC', 'MultiLabelAP', 'MultiLabelAccuracy',
                     'MultiLabelBalancedAccuracy', 'ODIRMetric')
#: Key prefixes of the per-class table columns / summary rows.
TABLE_PREFIXES = ('auc', 'mAP', 'mACC', 'bACC')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint: per-class and head/tail metrics')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument(
        '--out', help='write per-image scores and labels (.csv or .json)')
    parser.add_argument(
        '--metrics-out',
        help='also write the metrics (including per-class values) as strict '
        'JSON: an undefined value (NaN) is written as null')
    parser.add_argument(
        '--split',
        choices=['test', 'val'],
        default='test',
        help='evaluate the test (default) or the validation dataloader')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config (key=value)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_output_args(parser)
    add_report_args(parser)
    args = parser.parse_args(argv)
    check_report_args(parser, args)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def add_output_args(parser):
    """MMPretrain's ``--show-dir`` / ``--interval`` and ``--amp``."""
    parser.add_argument(
        '--show-dir',
        help='save, every --interval images, the model input with its '
        'ground-truth and predicted class names (MMPretrain\'s '
        'VisualizationHook)')
    parser.add_argument('--interval', type=int, default=1,
                        help='visualise every this many images (default 1)')
    parser.add_argument(
        '--amp', action='store_true',
        help='test under automatic mixed precision (fp16 autocast; GPU '
        'only: refused on a CPU-only machine)')


def add_report_args(parser):
    """The clinical report: thresholds, bootstrap intervals, curves, groups.
    """
    parser.add_argument(
        '--thresholds', default='0.5',
        help='decisions of the report and --show-dir: one threshold for '
        'every class (default 0.5) or a decision file of '
        'tools/misc/choose_thresholds.py (thresholds and its calibration, '
        'applied to the scores first)')
    parser.add_argument(
        '--calibration-bins', type=int, default=15,
        help='bins of the ECE / classwise ECE and the reliability diagrams '
        '(default 15)')
    parser.add_argument(
        '--bootstrap', type=int, default=1000,
        help='bootstrap resamples for the AUC / AP confidence intervals '
        '(default 1000; 0: no intervals)')
    parser.add_argument('--bootstrap-seed', type=int, default=0,
                        help='seed of the bootstrap resampling (default 0)')
    parser.add_argument('--ci-level', type=float, default=0.95,
                        help='coverage of the intervals (default 0.95)')
    parser.add_argument(
        '--curves-dir',
        help='write roc_curves.png, pr_curves.png (one panel per class, '
        'the operating point marked) and reliability.png to this folder')
    parser.add_argument(
        '--groups', choices=['paper', 'frequency'], default='paper',
        help='head / tail classes: the dataset\'s (the paper\'s, default) '
        'or by training-split frequency (--freq-threshold)')
    parser.add_argument(
        '--freq-threshold', type=int, default=None,
        help='with --groups frequency: a class is head when it has at least '
        'this many positive training images (default: the median count)')


def check_report_args(parser, args):
    try:
        thr = float(args.thresholds)
    except ValueError:
        if not osp.isfile(args.thresholds):
            parser.error(f'--thresholds: "{args.thresholds}" is neither a '
                         'number nor an existing thresholds file')
    else:
        if not 0.0 <= thr <= 1.0:
            parser.error(f'--thresholds must be in [0, 1], got {thr}')
        args.thresholds = thr
    if args.bootstrap < 0:
        parser.error('--bootstrap must be >= 0')
    if args.calibration_bins < 1:
        parser.error('--calibration-bins must be >= 1')
    if not 0.0 < args.ci_level < 1.0:
        parser.error('--ci-level must be in (0, 1)')
    if args.interval < 1:
        parser.error('--interval must be >= 1')
    if args.freq_threshold is not None and args.groups != 'frequency':
        parser.error('--freq-threshold needs --groups frequency')


def apply_output_args(cfg, args):
    """--show-dir (VisualizationHook) and --amp (fp16 test loop)."""
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit(
                '--amp needs a GPU: fp16 autocast on CPU is not supported by '
                'MMEngine\'s test loop (and bf16 would change the scores). '
                'Drop --amp on this machine.')
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    if args.show_dir:
        hooks = cfg.setdefault('default_hooks', {})
        vis = hooks.get('visualization') or dict(type='VisualizationHook')
        vis.update(enable=True, out_dir=args.show_dir,
                   interval=args.interval)
        hooks['visualization'] = vis


def apply_report_args(cfg, args):
    """Add the clinical report metric; set frequency groups if asked.

    Returns:
        tuple: (head classes, tail classes) of the tables, or None for the
        dataset's own.
    """
    metrics = _as_list(cfg.get('test_evaluator'))
    if isinstance(args.thresholds, str):  # fail before the test run
        from ldr_mm.apis import config_classes
        from ldr_mm.evaluation import load_decision_file
        load_decision_file(args.thresholds, config_classes(cfg))
    groups = None
    if args.groups == 'frequency':
        from ldr_mm.apis.dataset_labels import frequency_groups, split_labels
        sl = split_labels(cfg, 'train')
        groups = frequency_groups(sl.classes, sl.counts,
                                  args.freq_threshold)
        for m in metrics:
            if m.get('type') in PER_CLASS_METRICS:
                m.update(head_classes=groups[0], tail_classes=groups[1])
    report = dict(type='MultiLabelClinicalReport',
                  thresholds=args.thresholds, bootstrap=args.bootstrap,
                  seed=args.bootstrap_seed, level=args.ci_level)
    calib = dict(type='MultiLabelCalibration', num_bins=args.calibration_bins)
    extras = [calib, report]
    if args.curves_dir:
        extras.append(
            dict(type='MultiLabelReportPlots', out_dir=args.curves_dir,
                 thresholds=args.thresholds,
                 num_bins=args.calibration_bins))
    group_by = aggregation_key(metrics)
    agg = [m.get('aggregate', 'max') for m in metrics
           if group_by and m.get('aggregate_by') == group_by][:1]
    for extra in extras:
        if group_by:
            extra.update(aggregate_by=group_by, aggregate=agg[0])
        if groups:
            extra.update(head_classes=groups[0], tail_classes=groups[1])
    cfg.test_evaluator = metrics + extras
    return groups


def install_decisions(model, thresholds, classes):
    """Calibrate and threshold every prediction of ``model``'s test step.

    Wraps the (unwrapped) model's ``test_step`` so that its data samples
    pass through :func:`ldr_mm.evaluation.decide_samples` before the
    evaluator and the hooks (``--show-dir``'s VisualizationHook) see them.

    Args:
        model (nn.Module): The runner's model (a DDP wrapper is unwrapped).
        thresholds (float | str): ``--thresholds``.
        classes (Sequence[str]): The evaluated dataset's classes.

    Returns:
        Decisions: What is applied.
    """
    from mmengine.model import is_model_wrapper

    from ldr_mm.evaluation import decide_samples, fixed_decisions
    decisions = fixed_decisions(thresholds, classes)
    module = model.module if is_model_wrapper(model) else model
    test_step = module.test_step

    def decided_test_step(data):
        preds = test_step(data)
        decide_samples(preds, decisions)
        return preds

    module.test_step = decided_test_step
    return decisions


def _as_list(evaluator):
    if evaluator is None:
        return []
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator = evaluator['metrics']
    return list(evaluator) if isinstance(evaluator, (list, tuple)) else [
        evaluator
    ]


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.split == 'val':
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    metrics = _as_list(cfg.get('test_evaluator'))
    for m in metrics:
        if m.get('type') in PER_CLASS_METRICS:
            m['per_class'] = True
    if args.out:
        metrics.append(dict(type='MultiLabelScoreDump', out_file=args.out))
    cfg.test_evaluator = metrics
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(field) and cfg[field].get('num_workers', 0) == 0:
            cfg[field]['persistent_workers'] = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # CHECKPOINT is loaded strictly by load_checkpoint(); nothing may load
    # over it through MMEngine's non-strict load_from (not even cfg-options)
    cfg.load_from = None
    cfg.resume = False
    from ldr_mm.utils.run_names import distinct_experiment_name
    distinct_experiment_name(cfg)  # own logger/visualizer per in-process run
    return cfg


def class_positives(dataset, group_by=None) -> np.ndarray:
    """Positives per class of a multi-label dataset.

    With ``group_by`` (the metrics' ``aggregate_by``, e.g. ``'patient_id'``)
    a group counts once, as the aggregated metrics see it.
    """
    n = len(dataset.metainfo['classes'])
    counts = np.zeros(n, dtype=np.int64)
    seen = set()
    for i in range(len(dataset)):
        if group_by is not None:
            key = dataset.get_data_info(i).get(group_by)
            if key in seen:
                continue
            seen.add(key)
        counts[dataset.get_cat_ids(i)] += 1
    return counts


def aggregation_key(evaluator):
    """The common ``aggregate_by`` of the table metrics, if any."""
    keys = {m.get('aggregate_by') for m in _as_list(evaluator)
            if m.get('type') in PER_CLASS_METRICS and m.get('type') !=
            'ODIRMetric'}
    return keys.pop() if len(keys) == 1 else None


def load_checkpoint(model, checkpoint, classes, classes_of):
    """Load ``checkpoint`` into ``model`` strictly, or exit with the reason.

    Args:
        model (nn.Module): The runner's model (a DDP wrapper is unwrapped).
        checkpoint (str): The checkpoint file.
        classes (Sequence[str]): The evaluated dataset's class names; the
            checkpoint's recorded ones must equal them, in order.
        classes_of (str): Where ``classes`` come from, for messages.

    Returns:
        dict: The checkpoint's ``meta``.

    Raises:
        SystemExit: A missing, empty, truncated or code-running file, other
            weights (keys, shapes) or other class names; nothing is loaded.
    """
    import warnings
    from ldr_mm.utils import load_strict
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error
    try:
        with exit_on_checkpoint_error(checkpoint):
            meta = load_strict(
                model, checkpoint, what='Checkpoint', classes=classes,
                classes_of=classes_of,
                hint='Evaluate it with the config it was trained with (same '
                'model, same dataset classes in the same order).')
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None
    if not (meta.get('dataset_meta') or {}).get('classes'):
        warnings.warn(f'Checkpoint "{checkpoint}" records no class names '
                      '(meta.dataset_meta.classes): only its weights were '
                      'checked against the model, not its classes.')
    return meta


def print_clinical_report(metrics, classes, positives, head, args):
    from ldr_mm.evaluation.report import (clinical_summary_table,
                                          clinical_table)
    thr = args.thresholds
    src = f'{thr:g} for every class' if isinstance(thr, float) else \
        f'per class, from {thr}'
    n = metrics.get('clinical/bootstrap/resamples')
    ci = f'; AUC / AP intervals: {n} bootstrap resamples, seed ' \
        f'{args.bootstrap_seed}' if n else ''
    grp = '' if args.groups == 'paper' else \
        '; groups by training frequency'
    print(f'\nClinical report (thresholds: {src}{ci}{grp}):')
    masked = metrics.get('clinical/masked/total', 0)
    if masked:
        print(f'{masked} masked label cells (uncertain, gt_mask 0: '
              'U-Ignore) left out of their classes in every metric; per '
              'class in the "masked" column.')
    print(clinical_table(metrics, classes, positives, head_classes=head))
    print()
    print(clinical_summary_table(metrics))
    if args.curves_dir:
        print(f'ROC / PR curves in {args.curves_dir}')


def print_calibration_report(metrics, classes, positives, head, decisions):
    from ldr_mm.evaluation.report import calibration_table
    how = 'uncalibrated sigmoid scores' if decisions.calibration is None \
        else 'scores calibrated by ' + decisions.path + ' (' + ', '.join(
            sorted({m['method'] for m in decisions.calibration})) + ')'
    print(f'\nCalibration ({how}; ECE: {metrics["calibration/bins"]} '
          'equal-mass bins, classwise ECE: equal-width bins):')
    print(calibration_table(metrics, classes, positives, head))


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    apply_output_args(cfg, args)
    groups = apply_report_args(cfg, args)

    from ldr_mm.evaluation.report import (odir_table, per_class_table,
                                          summary_table)
    from ldr_mm.utils import cleanup_distributed, setup_cpu_distributed
    setup_cpu_distributed(cfg)
    ok = False
    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg \
            else RUNNERS.build(cfg)
        dataset = runner.test_dataloader.dataset
        meta = dataset.metainfo
        load_checkpoint(runner.model, args.checkpoint, meta.get('classes'),
                        f'the {args.split} dataset of "{args.config}"')
        decisions = install_decisions(runner.model, args.thresholds,
                                      list(meta['classes']))
        metrics = runner.test()
        if runner.rank == 0:
            classes = list(meta['classes'])
            group_by = aggregation_key(cfg.test_evaluator)
            positives = class_positives(dataset, group_by)
            head = list(groups[0] if groups else
                        meta.get('head_classes') or [])
            unit = f'{len(dataset)} images'
            if group_by:
                groups = {dataset.get_data_info(i).get(group_by)
                          for i in range(len(dataset))}
                unit += f', scored per {group_by}: {len(groups)}'
            print(f'\nPer-class results ({args.split} split, {unit}):')
            print(per_class_table(metrics, classes, positives,
                                  metric_prefixes=TABLE_PREFIXES,
                                  head_classes=head))
            print('\nSummary:')
            print(summary_table(metrics, metric_prefixes=TABLE_PREFIXES))
            if 'odir/final' in metrics:
                print('\nODIR-2019 official score (per patient):')
                print(odir_table(metrics))
            print_clinical_report(metrics, classes, positives, head, args)
            print_calibration_report(metrics, classes, positives, head,
                                     decisions)
            if args.metrics_out:
                import json
                from ldr_mm.engine.hooks import package_versions
                from ldr_mm.evaluation.report import strict_json_values
                from ldr_mm.utils import atomic_write
                with atomic_write(args.metrics_out) as f:
                    json.dump(strict_json_values(dict(
                        config=args.config, checkpoint=args.checkpoint,
                        split=args.split, metrics=metrics,
                        versions=package_versions(), classes=classes,
                        positives=positives.tolist())), f, indent=1,
                        allow_nan=False)
        ok = True
    finally:
        # MMEngine never destroys the process group (NCCL warns at exit)
        cleanup_distributed(barrier=ok)
    return metrics


if __name__ == '__main__':
    main()
