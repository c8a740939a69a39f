"""Choose per-class decision thresholds on the validation set.

For every class, the threshold that maximises F1 (``--criterion f1``,
default) or Youden's J = sensitivity + specificity - 1 (``--criterion
youden``) on validation scores, saved as JSON for ``tools/infer.py
--thresholds`` and :class:`ldr_mm.apis.MultiLabelInferencer`::

    # from the scores of tools/test.py --split val --out val_scores.csv
    python tools/misc/choose_thresholds.py --scores val_scores.csv \\
        --criterion f1 --out work_dirs/thresholds_f1.json
    # or let this tool run the model on the validation split
    python tools/misc/choose_thresholds.py CONFIG CHECKPOINT \\
        --criterion youden --out work_dirs/thresholds_youden.json

With ``--calibration temperature|platt|isotonic`` a per-class calibration
map is fitted on the same validation scores first
(:mod:`ldr_mm.evaluation.calibration`), the thresholds are chosen on the
*calibrated* scores, and both go into the one decision file (format
version 2), which ``tools/test.py --thresholds``, ``tools/infer.py
--thresholds``, the inferencer and the confusion matrix apply in that
order (calibrate, then threshold)::

    python tools/misc/choose_thresholds.py --scores val_scores.csv \\
        --calibration platt --out work_dirs/decisions.json

How the threshold is placed and what happens to a class without positives
(or negatives) in the validation set: see
``ldr_mm/evaluation/thresholds.py`` and ``docs/inference.md``. Masked labels
(U-Ignore's uncertain cells) are left out of their class: positives /
negatives count the known labels. Never choose thresholds on the test split
you report.
"""
import argparse
import importlib.util
import os.path as osp
import tempfile
import warnings

REPO = osp.abspath(osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

import numpy as np  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Choose per-class thresholds on validation scores '
        '(max F1 or Youden\'s J) and save them as JSON.')
    parser.add_argument('config', nargs='?',
                        help='config (with CHECKPOINT: run the model on the '
                        'validation split)')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint')
    parser.add_argument(
        '--scores',
        help='a tools/test.py --split val --out file (.csv or .json) '
        'instead of running the model')
    parser.add_argument('--criterion', choices=['f1', 'youden'],
                        default='f1', help='what to maximise per class '
                        '(default f1)')
    parser.add_argument('--out', required=True,
                        help='the thresholds JSON file to write')
    parser.add_argument(
        '--calibration', choices=['none', 'temperature', 'platt',
                                  'isotonic'], default='none',
        help='fit this per-class calibration on the same scores, store it '
        'in the file and choose the thresholds on the calibrated scores '
        '(default none)')
    parser.add_argument('--calibration-bins', type=int, default=15,
                        help='bins of the ECE printed (default 15)')
    parser.add_argument('--default', type=float, default=0.5,
                        help='threshold of a class without positives or '
                        'negatives in the set (default 0.5)')
    parser.add_argument('--work-dir',
                        help='work dir of the validation run (default: a '
                        'temporary one)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        help='config overrides for the validation run '
                        '(passed to tools/test.py)')
    args = parser.parse_args(argv)
    if args.scores and (args.config or args.checkpoint):
        parser.error('give either --scores or CONFIG CHECKPOINT, not both')
    if not args.scores and not (args.config and args.checkpoint):
        parser.error('give --scores FILE, or CONFIG and CHECKPOINT')
    if not args.out.endswith('.json'):
        parser.error(f'--out must be a .json file, got "{args.out}"')
    if not 0.0 <= args.default <= 1.0:
        parser.error('--default must be in [0, 1]')
    if args.calibration_bins < 1:
        parser.error('--calibration-bins must be >= 1')
    return args


def _load_test_tool():
    path = osp.join(REPO, 'tools', 'test.py')
    spec = importlib.util.spec_from_file_location('ldr_mm_test_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validation_scores(config, checkpoint, work_dir=None, cfg_options=None):
    """Run ``tools/test.py --split val --out`` and read its scores."""
    from ldr_mm.evaluation import read_score_file
    test_tool = _load_test_tool()
    with tempfile.TemporaryDirectory(prefix='ldr_mm_thr_') as tmp:
        out = osp.join(tmp, 'val_scores.csv')
        argv = [config, checkpoint, '--split', 'val', '--out', out,
                '--work-dir', work_dir or osp.join(tmp, 'work'),
                # MMEngine names the runner's visualizer and logger after
                # the experiment (config name + second); a unique name keeps
                # a later runner of this process (same second) from getting
                # this one's visualizer, whose folder is deleted below
                '--cfg-options', f'experiment_name={osp.basename(tmp)}'
                ] + list(cfg_options or [])
        test_tool.main(argv)
        return read_score_file(out)


def f1_at(scores, targets, thr):
    pred = scores >= thr
    tp = (pred & (targets == 1)).sum(0)
    fp = (pred & (targets == 0)).sum(0)
    fn = (~pred & (targets == 1)).sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        return 2 * tp / (2 * tp + fp + fn)


def youden_at(scores, targets, thr):
    pred = scores >= thr
    pos = (targets == 1).sum(0)
    neg = (targets == 0).sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        return ((pred & (targets == 1)).sum(0) / pos -
                (pred & (targets == 0)).sum(0) / neg)


def fit_and_report_calibration(sf, args):
    """Fit ``--calibration`` on the score file; print ECE before / after.

    Returns:
        tuple: (the C maps or None, the (N, C) scores to choose thresholds
        on: calibrated with maps, as read without).
    """
    if args.calibration == 'none':
        return None, sf.scores
    from ldr_mm.evaluation.calibration import (apply_calibration,
                                               ece_equal_mass,
                                               fit_calibration)
    maps = fit_calibration(sf.scores, sf.gt, args.calibration, sf.classes)
    scores = apply_calibration(sf.scores, maps)
    for m in maps:
        if m['method'] == 'identity':
            print(f'Warning: class {m["class"]!r} keeps its scores '
                  f'uncalibrated ({m["reason"]})')
    before = np.nanmean(ece_equal_mass(sf.scores, sf.gt,
                                       args.calibration_bins))
    after = np.nanmean(ece_equal_mass(scores, sf.gt, args.calibration_bins))
    print(f'{args.calibration} calibration fitted on {len(sf.img_paths)} '
          f'images: mean ECE on these (fitting) scores {before:.4f} -> '
          f'{after:.4f} (in-sample; measure it on the test split with '
          'tools/test.py --thresholds)')
    return maps, scores


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.evaluation import (ScoreFileError, choose_thresholds,
                                   labelled, read_score_file,
                                   save_thresholds)
    from ldr_mm.evaluation.report import format_table

    if args.scores:
        sf = read_score_file(args.scores)
        source = args.scores
    else:
        sf = validation_scores(args.config, args.checkpoint, args.work_dir,
                               args.cfg_options)
        source = f'{args.config} + {args.checkpoint} (val split)'
    if not labelled(sf):
        raise ScoreFileError(
            f'"{sf.path}" has images without labels (gt = -1): thresholds '
            'can only be chosen on a labelled (validation) split.')
    maps, scores = fit_and_report_calibration(sf, args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        chosen = choose_thresholds(scores, sf.gt, args.criterion,
                                   classes=sf.classes, default=args.default)
    for w in caught:
        print(f'Warning: {w.message}')
    save_thresholds(
        args.out, sf.classes, chosen['thresholds'], args.criterion,
        source=source, values=chosen['values'],
        positives=chosen['positives'], negatives=chosen['negatives'],
        fallback=chosen['fallback'], calibration=maps)

    thr = np.asarray(chosen['thresholds'])
    measure = f1_at if args.criterion == 'f1' else youden_at
    name = 'F1' if args.criterion == 'f1' else 'J'
    at_half = measure(scores, sf.gt, 0.5)
    at_thr = measure(scores, sf.gt, thr)
    rows = []
    for i, c in enumerate(sf.classes):
        rows.append([c, chosen['positives'][i], chosen['negatives'][i],
                     float(thr[i]), float(at_half[i]),
                     float(at_thr[i]) if not chosen['fallback'][i] else
                     None])
    masked = int((sf.gt < 0).sum())
    print(f'Per-class thresholds ({args.criterion}) on {len(sf.img_paths)} '
          f'images of {source}' + (f' ({masked} masked label cells left '
                                   'out)' if masked else '') + ':')
    print(format_table(['class', 'positives', 'negatives', 'threshold',
                        f'{name}@0.5', f'{name}@thr'], rows))
    print(f'Wrote {args.out}')
    return chosen


if __name__ == '__main__':
    main()
