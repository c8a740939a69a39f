"""Per-class AUC and AP against class frequency, for one or more runs.

Reads ``tools/test.py --out`` score files (one per model: e.g. a baseline,
stage 1 and stage 2 on the same test split) and writes one PNG with three
rows sharing the class axis, classes sorted from the most to the least
frequent: the class frequency (log scale), the per-class ROC AUC and the
per-class AP, one bar per result file, head / tail classes shaded::

    python tools/analysis_tools/per_class_metrics.py \\
        work_dirs/baseline/test_scores.csv work_dirs/stage1/test_scores.csv \\
        work_dirs/stage2/test_scores.csv --labels baseline "stage 1" \\
        "stage 2" --config configs/ldrnet/ldr_r18_demo_stage1.py \\
        --out work_dirs/analysis/per_class_auc_ap.png

Frequency is the positive count in the training split when ``--config`` is
given (the frequency the model was trained on; the config also gives the
head / tail classes), else the positive count in the evaluated set. Masked
label cells (uncertain labels under U-Ignore, empty in the score file) are
left out of their class. AUC and
AP are computed with :mod:`ldr_mm.evaluation.functional` (tie-aware; a class
with only positives or only negatives is missing, drawn as no bar).
"""
import argparse
import csv
import io
import os.path as osp
import warnings

import numpy as np  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot per-class AUC and AP of one or several '
        'tools/test.py --out files against class frequency.')
    parser.add_argument('results', nargs='+',
                        help='score files of tools/test.py --out (.csv or '
                        '.json), all for the same classes')
    parser.add_argument('--labels', nargs='+',
                        help='one name per result file (default: the file '
                        'names)')
    parser.add_argument('--config',
                        help='a config of the dataset: frequency from its '
                        'training split, head/tail from its metainfo')
    parser.add_argument('--out', default='work_dirs/analysis/'
                        'per_class_auc_ap.png', help='the PNG to write')
    parser.add_argument('--out-csv',
                        help='also write the per-class values as CSV')
    parser.add_argument('--dpi', type=int, default=100)
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.results):
        parser.error(f'{len(args.labels)} --labels for {len(args.results)} '
                     'result files')
    if not args.out.endswith('.png'):
        parser.error('--out must be a .png file')
    return args


def check_compatible(files) -> None:
    """Same classes everywhere; same labels where the same image appears.

    Raises:
        ScoreFileError: Different class lists, or an image with different
            ground truth in two files.
    """
    from ldr_mm.evaluation import ScoreFileError, labelled
    from ldr_mm.utils import class_difference
    ref = files[0]
    for f in files:
        if not labelled(f):
            raise ScoreFileError(
                f'"{f.path}" has images without labels (gt = -1); per-class '
                'AUC/AP need a labelled split.')
        if f.classes != ref.classes:
            detail = class_difference(ref.classes, f.classes,
                                      names=('the first', 'this one'))
            raise ScoreFileError(
                f'"{f.path}" has the classes {f.classes}, but "{ref.path}" '
                f'has {ref.classes} ({detail})')
    for f in files[1:]:
        if set(f.img_paths) != set(ref.img_paths):
            warnings.warn(
                f'"{f.path}" and "{ref.path}" cover different images '
                f'({len(f.img_paths)} vs {len(ref.img_paths)}); their '
                'per-class values are not directly comparable.')
        index = {p: i for i, p in enumerate(ref.img_paths)}
        for j, p in enumerate(f.img_paths):
            i = index.get(p)
            if i is not None and not np.array_equal(ref.gt[i], f.gt[j]):
                raise ScoreFileError(
                    f'Image "{p}" has different labels in "{f.path}" and '
                    f'"{ref.path}": they are not results on the same '
                    'dataset.')


def per_class_values(files):
    from ldr_mm.evaluation.functional import (average_precision_per_class,
                                              roc_auc_per_class)
    auc = np.stack([roc_auc_per_class(f.scores, f.gt) for f in files])
    ap = np.stack([average_precision_per_class(f.scores, f.gt)
                   for f in files])
    return auc, ap


def plot(classes, freq, freq_label, labels, auc, ap, head, tail, path,
         dpi=100):
    from ldr_mm.visualization.plotting import (SERIES_COLORS, group_colors,
                                               group_legend_handles,
                                               mark_groups, new_figure,
                                               save_figure, set_class_ticks)
    order = np.argsort(-freq, kind='stable')
    names = [classes[i] for i in order]
    C, R = len(classes), len(labels)
    fig, axes = new_figure((max(7, 0.55 * C + 2.5), 7.5), dpi, nrows=3,
                           sharex=True, height_ratios=[1, 1.4, 1.4])
    x = np.arange(C)
    ax = axes[0]
    ax.bar(x, np.where(freq[order] > 0, freq[order], np.nan),
           color=group_colors(names, head, tail), edgecolor='k', lw=0.4)
    ax.set_yscale('log')
    ax.set_ylabel(freq_label, fontsize=8)
    handles = group_legend_handles(head, tail)
    if handles:
        ax.legend(handles=handles, fontsize=7, loc='upper right')
    width = 0.8 / R

    def mean(v):
        return float(np.nanmean(v)) if np.isfinite(v).any() else np.nan

    for ax, values, name in ((axes[1], auc, 'ROC AUC'), (axes[2], ap, 'AP')):
        mark_groups(ax, names, head, tail)
        for r in range(R):
            v = values[r, order]
            ax.bar(x - 0.4 + width * (r + 0.5), np.nan_to_num(v, nan=0.0),
                   width, color=SERIES_COLORS[r % len(SERIES_COLORS)],
                   label=f'{labels[r]}: mean AUC {mean(auc[r]):.3f}, '
                   f'mean AP {mean(ap[r]):.3f}' if name == 'AP' else None)
            for k in np.flatnonzero(np.isnan(v)):
                ax.text(x[k] - 0.4 + width * (r + 0.5), 0.02, 'n/a',
                        rotation=90, fontsize=6, ha='center', va='bottom')
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(name, fontsize=9)
        ax.grid(axis='y', alpha=0.3)
    fig.legend(loc='outside lower center', fontsize=8, ncol=min(R, 2),
               frameon=False)
    set_class_ticks(axes[2], names)
    axes[0].set_title('Per-class AUC and AP, classes by frequency',
                      fontsize=10)
    return save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.evaluation import read_score_file
    from ldr_mm.visualization.plotting import class_group
    from ldr_mm.evaluation.report import format_table
    from ldr_mm.utils import atomic_write

    files = [read_score_file(p) for p in args.results]
    check_compatible(files)
    classes = files[0].classes
    labels = args.labels or [osp.splitext(osp.basename(p))[0]
                             for p in args.results]
    head, tail = [], []
    if args.config:
        from ldr_mm.apis.dataset_labels import split_labels
        sl = split_labels(args.config, 'train')
        if sl.classes != classes:
            raise ValueError(
                f'The config\'s training classes {sl.classes} differ from '
                f'the result files\' classes {classes}')
        freq, freq_label = sl.counts, 'train positives'
        head, tail = sl.head, sl.tail
    else:
        freq = (files[0].gt == 1).sum(0).astype(np.int64)
        freq_label = 'positives (evaluated set)'
    auc, ap = per_class_values(files)

    order = np.argsort(-freq, kind='stable')
    header = ['class', 'group', 'freq'] + [f'AUC {n}' for n in labels] + [
        f'AP {n}' for n in labels]
    rows = [[classes[i], class_group(classes[i], head, tail), int(freq[i])]
            + [float(v) for v in auc[:, i]] + [float(v) for v in ap[:, i]]
            for i in order]
    print(format_table(header, rows))
    path = plot(classes, freq, freq_label, labels, auc, ap, head, tail,
                args.out, args.dpi)
    print(f'Wrote {path}')
    if args.out_csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        for r in rows:
            w.writerow(['' if isinstance(v, float) and np.isnan(v) else v
                        for v in r])
        with atomic_write(args.out_csv, newline='') as f:
            f.write(buf.getvalue())
        print(f'Wrote {args.out_csv}')
    return dict(classes=classes, freq=freq, auc=auc, ap=ap, labels=labels,
                path=path)


if __name__ == '__main__':
    main()
