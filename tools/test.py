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
        help='also write the metrics (including per-class values) as JSON')
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
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


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
    from ldr_mm.utils import (CheckpointMismatchError, CorruptCheckpointError,
                              UnsafeCheckpointError, load_strict)
    from ldr_mm.utils.checkpoint import refuse_unsafe_checkpoint
    try:
        meta = load_strict(
            model, checkpoint, what='Checkpoint', classes=classes,
            classes_of=classes_of,
            hint='Evaluate it with the config it was trained with (same '
            'model, same dataset classes in the same order).')
    except UnsafeCheckpointError as e:
        raise refuse_unsafe_checkpoint(e, checkpoint) from None
    except (FileNotFoundError, CorruptCheckpointError,
            CheckpointMismatchError) as e:
        raise SystemExit(str(e)) from None
    if not (meta.get('dataset_meta') or {}).get('classes'):
        warnings.warn(f'Checkpoint "{checkpoint}" records no class names '
                      '(meta.dataset_meta.classes): only its weights were '
                      'checked against the model, not its classes.')
    return meta


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)

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
        metrics = runner.test()
        if runner.rank == 0:
            classes = list(meta['classes'])
            group_by = aggregation_key(cfg.test_evaluator)
            positives = class_positives(dataset, group_by)
            head = list(meta.get('head_classes') or [])
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
            if args.metrics_out:
                import json
                from ldr_mm.utils import atomic_write
                with atomic_write(args.metrics_out) as f:
                    json.dump(dict(config=args.config,
                                   checkpoint=args.checkpoint,
                                   split=args.split, metrics=metrics,
                                   classes=classes,
                                   positives=positives.tolist()), f,
                              indent=1)
        ok = True
    finally:
        # MMEngine never destroys the process group (NCCL warns at exit)
        cleanup_distributed(barrier=ok)
    return metrics


if __name__ == '__main__':
    main()
