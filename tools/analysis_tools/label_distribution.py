"""Label distribution of a dataset split: how long is the tail?

Writes two PNGs::

    <out-dir>/label_distribution_<split>.png   per-class positive counts,
        sorted, log scale, head / tail classes coloured (from the dataset
        metainfo), the imbalance ratio in the title;
    <out-dir>/label_cooccurrence_<split>.png   the C x C co-occurrence
        matrix: entry (i, j) = P(class j | class i) = n(i and j) / n(i)
        (--normalize row, default) or the raw counts n(i and j)
        (--normalize none); the diagonal holds n(i).

    python tools/analysis_tools/label_distribution.py CONFIG --split train \\
        --out-dir work_dirs/analysis

Only the annotation files are read, not the images: they need not be on
disk (the datasets' up-front image checks are switched off).
"""
import argparse
import os.path as osp

import numpy as np  # noqa: E402
from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot the label distribution (sorted per-class counts, '
        'log scale, head/tail) and the label co-occurrence matrix of a '
        'dataset split.')
    parser.add_argument('config', help='a config naming the dataset')
    parser.add_argument('--split', choices=['train', 'val', 'test'],
                        default='train', help='default: train')
    parser.add_argument('--out-dir', default='work_dirs/analysis',
                        help='where the PNGs go (default work_dirs/analysis)')
    parser.add_argument('--normalize', choices=['row', 'none'],
                        default='row',
                        help='co-occurrence as P(column | row) (default) or '
                        'raw counts')
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    return parser.parse_args(argv)


def cooccurrence(labels: np.ndarray) -> np.ndarray:
    """(C, C) counts: entry (i, j) = images with both class i and j."""
    y = labels.astype(np.int64)
    return y.T @ y


def plot_distribution(sl, path: str, dpi: int = 100) -> str:
    from ldr_mm.visualization.plotting import (group_colors,
                                               group_legend_handles,
                                               new_figure, save_figure,
                                               set_class_ticks)
    counts = sl.counts
    order = np.argsort(-counts, kind='stable')
    classes = [sl.classes[i] for i in order]
    values = counts[order]
    C = len(classes)
    fig, ax = new_figure((max(6, 0.45 * C + 2), 4.2), dpi)
    colors = group_colors(classes, sl.head, sl.tail)
    plotted = np.where(values > 0, values, np.nan)
    ax.bar(np.arange(C), plotted, color=colors, edgecolor='k', lw=0.4)
    ax.set_yscale('log')
    for x, v in enumerate(values):
        ax.text(x, max(v, 1) * 1.08, str(int(v)), ha='center',
                va='bottom', fontsize=7)
    set_class_ticks(ax, classes)
    ax.set_ylabel('positive images (log scale)')
    nz = values[values > 0]
    ratio = f'{nz.max() / nz.min():.0f}' if nz.size else 'n/a'
    n_none = int((sl.labels.sum(1) == 0).sum())
    ax.set_title(f'{sl.split} split: {len(sl.labels)} images, '
                 f'{n_none} without any label; imbalance ratio '
                 f'max/min = {ratio}', fontsize=9)
    top = max(values.max(), 1)
    ax.set_ylim(0.8, top * 2.5)
    handles = group_legend_handles(sl.head, sl.tail)
    if handles:
        ax.legend(handles=handles, fontsize=8, loc='upper right')
    missing = [c for c, v in zip(classes, values) if v == 0]
    if missing:
        ax.text(0.99, 0.02, f'no positives: {", ".join(missing)}',
                transform=ax.transAxes, ha='right', fontsize=7,
                color='red')
    return save_figure(fig, path)


def plot_cooccurrence(sl, path: str, normalize: str = 'row',
                      dpi: int = 100) -> str:
    from ldr_mm.visualization.plotting import new_figure, save_figure
    import matplotlib
    from matplotlib.colors import LogNorm
    co = cooccurrence(sl.labels)
    C = len(sl.classes)
    side = max(5, 0.45 * C + 2.5)
    fig, ax = new_figure((side + 1, side), dpi)
    if normalize == 'row':
        diag = np.diag(co).astype(np.float64)
        with np.errstate(invalid='ignore', divide='ignore'):
            mat = co / diag[:, None]
        shown = mat.copy()
        np.fill_diagonal(shown, np.nan)  # the diagonal shows n(i) instead
        cmap = matplotlib.colormaps['viridis'].with_extremes(
            bad='lightgrey')
        im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=1)
        label = 'P(column class | row class); diagonal: n(row class)'
    else:
        mat = co.astype(np.float64)
        im = ax.imshow(np.where(mat > 0, mat, np.nan), cmap='viridis',
                       norm=LogNorm(vmin=1, vmax=max(mat.max(), 1)))
        label = 'images with both classes'
    fig.colorbar(im, ax=ax, label=label, shrink=0.8)
    if C <= 20:
        for i in range(C):
            for j in range(C):
                if i == j and normalize == 'row':
                    ax.text(j, i, f'n={int(co[i, i])}', ha='center',
                            va='center', fontsize=6, color='k')
                elif co[i, j]:
                    val = mat[i, j]
                    txt = f'{val:.2f}' if normalize == 'row' else \
                        str(int(val))
                    ax.text(j, i, txt, ha='center', va='center',
                            fontsize=6, color='w' if (
                                normalize == 'row' and val < 0.6) else 'k')
    ax.set_xticks(np.arange(C))
    ax.set_yticks(np.arange(C))
    ax.set_xticklabels(sl.classes, rotation=60, ha='right', fontsize=7)
    ax.set_yticklabels(sl.classes, fontsize=7)
    ax.set_title(f'Label co-occurrence ({sl.split} split, '
                 f'{len(sl.labels)} images)', fontsize=9)
    return save_figure(fig, path)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.apis.dataset_labels import split_labels
    from ldr_mm.visualization.plotting import class_group
    from ldr_mm.evaluation.report import format_table

    sl = split_labels(args.config, args.split, args.cfg_options)
    counts = sl.counts
    order = np.argsort(-counts, kind='stable')
    n = len(sl.labels)
    print(f'{args.split} split: {n} images, {len(sl.classes)} classes')
    print(format_table(
        ['class', 'group', 'positives', 'fraction'],
        [[sl.classes[i], class_group(sl.classes[i], sl.head, sl.tail),
          int(counts[i]), float(counts[i] / max(n, 1))] for i in order]))
    dist = plot_distribution(
        sl, osp.join(args.out_dir, f'label_distribution_{args.split}.png'),
        args.dpi)
    co = plot_cooccurrence(
        sl, osp.join(args.out_dir, f'label_cooccurrence_{args.split}.png'),
        args.normalize, args.dpi)
    print(f'Wrote {dist}\nWrote {co}')
    return dict(distribution=dist, cooccurrence=co, labels=sl)


if __name__ == '__main__':
    main()
