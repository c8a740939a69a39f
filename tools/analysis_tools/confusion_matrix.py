"""Multi-label confusion: per-class 2x2 tables and co-confusion between
classes, from a ``tools/test.py --out`` score file.

MMPretrain's ``tools/analysis_tools/confusion_matrix.py`` builds one C x C
single-label matrix (argmax prediction against one true class) and fails on
multi-label data. For multi-label results this tool reports, at per-class
thresholds (``score >= thr``; with a decision file that holds a
calibration, the file's calibrated score, as ``tools/test.py`` decides):

* per class, the 2x2 table TP / FN / FP / TN with sensitivity, specificity
  and PPV;
* the co-confusion matrix: row = the images that have a class (plus a row
  for the images without any label), diagonal = that class missed,
  off-diagonal = another class called although absent on those images;
  written as a PNG and printed as the largest off-diagonal entries.

Masked label cells (empty / ``null`` in the score file: uncertain labels
under U-Ignore) are left out of their class's 2x2 table and of the
co-confusion rows and calls (see :func:`~ldr_mm.evaluation.clinical.
co_confusion`)::

    python tools/analysis_tools/confusion_matrix.py test_scores.csv \\
        --thresholds thresholds.json --out-dir work_dirs/analysis

Computation: :mod:`ldr_mm.evaluation.clinical`.
"""
import argparse
import json
import os.path as osp

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Per-class 2x2 tables and the co-confusion matrix of a '
        'multi-label score file (tools/test.py --out).')
    parser.add_argument('scores', help='a tools/test.py --out file (.csv or '
                        '.json) with labels')
    parser.add_argument(
        '--thresholds', default='0.5',
        help='one threshold for every class (default 0.5) or a thresholds '
        'file of tools/misc/choose_thresholds.py')
    parser.add_argument('--out-dir', default='work_dirs/analysis',
                        help='where co_confusion.png and confusion.json go')
    parser.add_argument('--top', type=int, default=10,
                        help='largest co-confusions printed (default 10)')
    parser.add_argument('--dpi', type=int, default=100)
    return parser.parse_args(argv)


def resolve(args, classes):
    """The :class:`~ldr_mm.evaluation.Decisions` of ``--thresholds`` (a
    decision file's calibration included)."""
    from ldr_mm.evaluation import fixed_decisions
    try:
        value = float(args.thresholds)
    except ValueError:
        value = args.thresholds  # a thresholds file
    return fixed_decisions(value, classes)


def top_confusions(mat, classes, rows, k):
    """The ``k`` largest off-diagonal entries, as table rows."""
    C = len(classes)
    names = list(classes) + ['(no label)']
    cells = [(int(mat[i, j]), i, j) for i in range(C + 1) for j in range(C)
             if i != j and mat[i, j] > 0]
    cells.sort(key=lambda x: (-x[0], x[1], x[2]))
    return [[names[i], classes[j], n, n / rows[i]] for n, i, j in cells[:k]]


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.evaluation import labelled, read_score_file
    from ldr_mm.evaluation.clinical import co_confusion, threshold_metrics
    from ldr_mm.evaluation.report import format_table
    from ldr_mm.utils import atomic_write
    from ldr_mm.visualization.confusion_plot import plot_co_confusion

    sf = read_score_file(args.scores)
    if not labelled(sf):
        raise SystemExit(f'"{args.scores}" has no labels (gt -1): a '
                         'confusion table needs the ground truth')
    decisions = resolve(args, sf.classes)
    thr = decisions.thresholds
    # score files hold the model's uncalibrated scores: calibrate as the
    # decision file says, then threshold (as tools/test.py does)
    scores = decisions.calibrate(sf.scores)
    m = threshold_metrics(scores, sf.gt, thr)
    masked = int((sf.gt < 0).sum())
    print(f'{args.scores}: {len(sf.img_paths)} images, thresholds '
          f'{args.thresholds}' + (f'; {masked} masked label cells left out'
                                  if masked else '') +
          ('' if decisions.calibration is None else
           '; scores calibrated by the file first'))
    print(format_table(
        ['class', 'thr', 'TP', 'FN', 'FP', 'TN', 'sens', 'spec', 'PPV'],
        [[c, float(thr[i]), int(m['tp'][i]), int(m['fn'][i]),
          int(m['fp'][i]), int(m['tn'][i]), float(m['sens'][i]),
          float(m['spec'][i]), float(m['ppv'][i])]
         for i, c in enumerate(sf.classes)]))
    mat = co_confusion(scores, sf.gt, thr)
    rows = np.r_[(sf.gt == 1).sum(0), (sf.gt == 0).all(1).sum()]
    print('\nLargest co-confusions (false calls of a class on the images '
          'of another):')
    print(format_table(['images with', 'falsely called', 'images',
                        'fraction'],
                       top_confusions(mat, sf.classes, rows, args.top)))
    png = plot_co_confusion(
        mat, sf.classes, rows, osp.join(args.out_dir, 'co_confusion.png'),
        title=f'Co-confusion, {osp.basename(args.scores)}', dpi=args.dpi)
    out = osp.join(args.out_dir, 'confusion.json')
    with atomic_write(out) as f:
        json.dump(dict(scores=args.scores, classes=sf.classes,
                       thresholds=thr.tolist(),
                       per_class={k: m[k].tolist() for k in
                                  ('tp', 'fn', 'fp', 'tn')},
                       co_confusion=mat.tolist(),
                       co_confusion_rows=sf.classes + ['(no label)'],
                       row_images=rows.tolist()), f, indent=1)
    print(f'Wrote {png}\nWrote {out}')
    return dict(metrics=m, co_confusion=mat, rows=rows, png=png, json=out)


if __name__ == '__main__':
    main()
