"""L2 norm of each class's classifier weight vector (the paper's Fig. 5).

A classifier trained on long-tailed data gives head classes larger weight
norms (larger logits); stage 2 should flatten that. For each checkpoint the
per-class norms ``||w_c||_2`` of the classifier weight (C, D) are drawn as
bars, classes from the most to the least frequent, head / tail shaded::

    python tools/analysis_tools/weight_norms.py STAGE1.pth STAGE2.pth \\
        --labels "stage 1" "stage 2" --out work_dirs/analysis/weight_norms.png

Reads ``state_dict['head.weight']`` (:class:`~ldr_mm.models.LDRHead`) or
``state_dict['head.fc.weight']`` (MMPretrain's linear multi-label heads).
Class names and head / tail come from the checkpoint's
``meta.dataset_meta``, else from ``--config``; with ``--config`` classes are
ordered by training-split frequency, else in checkpoint order (head first in
ldr_mm datasets). The head/tail norm ratio (mean head norm / mean tail norm)
is printed per checkpoint: 1 means no head-class bias in the norms.
"""
import argparse
import os.path as osp

import numpy as np  # noqa: E402

HEAD_KEYS = ('head.weight', 'head.fc.weight')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Plot the L2 norm of each class\'s classifier weight '
        'vector for one or more checkpoints (LDRNet Fig. 5).')
    parser.add_argument('checkpoints', nargs='+', help='checkpoints (.pth)')
    parser.add_argument('--labels', nargs='+',
                        help='one name per checkpoint (default: file names)')
    parser.add_argument('--config',
                        help='a config of the dataset: classes and head/tail '
                        'if the checkpoints lack them, and the frequency '
                        'order of the training split')
    parser.add_argument('--normalize', action='store_true',
                        help='divide each checkpoint\'s norms by their mean '
                        '(compare shapes, not scales)')
    parser.add_argument('--out', default='work_dirs/analysis/'
                        'weight_norms.png', help='the PNG to write')
    parser.add_argument('--dpi', type=int, default=100)
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.checkpoints):
        parser.error(f'{len(args.labels)} --labels for '
                     f'{len(args.checkpoints)} checkpoints')
    if not args.out.endswith('.png'):
        parser.error('--out must be a .png file')
    return args


def classifier_weight(path: str):
    """(weight (C, D) float64 numpy, key, dataset_meta) of a checkpoint.

    Raises:
        KeyError: No supported classifier weight in the checkpoint.
    """
    from ldr_mm.utils import (checkpoint_dataset_meta, checkpoint_state_dict,
                              safe_load_checkpoint)
    ckpt = safe_load_checkpoint(path)
    sd = checkpoint_state_dict(ckpt)
    for key in HEAD_KEYS:
        w = sd.get(key)
        if w is not None:
            if w.ndim != 2:
                raise KeyError(f'"{path}": {key} has shape '
                               f'{tuple(w.shape)}, expected (classes, dims)')
            return w.double().cpu().numpy(), key, checkpoint_dataset_meta(
                ckpt)
    head_keys = [k for k in sd if k.startswith('head.')]
    raise KeyError(
        f'"{path}" has no classifier weight {" or ".join(HEAD_KEYS)} (its '
        f'head weights: {head_keys or "none"}); only LDRHead and MMPretrain '
        'linear heads are supported.')


def load_classifiers(paths):
    """The classifier weights (C, D) of the checkpoints, checked to have the
    same classes, their class names (None if no checkpoint names them) and
    the ``dataset_meta`` of the first checkpoint that does (or None)."""
    from ldr_mm.utils import class_difference
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error
    loaded = []
    for p in paths:
        with exit_on_checkpoint_error(p):
            loaded.append(classifier_weight(p))
    C = loaded[0][0].shape[0]
    for (w, key, _), p in zip(loaded, paths):
        if w.shape[0] != C:
            raise ValueError(f'"{p}" has {w.shape[0]} classes ({key}), '
                             f'"{paths[0]}" has {C}')
    metas = [m for _, _, m in loaded]
    named = [(p, m['classes']) for p, m in zip(paths, metas)
             if m.get('classes')]
    for p, cls in named[1:]:
        if list(cls) != list(named[0][1]):
            raise ValueError(
                f'"{p}" was trained on the classes {list(cls)}, '
                f'"{named[0][0]}" on {list(named[0][1])} '
                f'({class_difference(cls, named[0][1])})')
    classes = [str(c) for c in named[0][1]] if named else None
    return ([w for w, _, _ in loaded], classes,
            next((m for m in metas if m.get('classes')), None))


def config_classes(config, classes, head, tail, num_classes):
    """Classes, head, tail (the checkpoints' where they have them) and
    training-split positives per class (C,) from ``config``."""
    from ldr_mm.apis.dataset_labels import split_labels
    sl = split_labels(config, 'train')
    if classes is not None and sl.classes != classes:
        raise ValueError(f'The config\'s classes {sl.classes} differ '
                         f'from the checkpoints\' {classes}')
    if len(sl.classes) != num_classes:
        raise ValueError(f'The config has {len(sl.classes)} classes, '
                         f'the checkpoints {num_classes}')
    return classes or sl.classes, (head or sl.head), (tail or sl.tail), \
        sl.counts


def head_tail_ratios(norms, classes, head, tail):
    """Mean head norm / mean tail norm per checkpoint (NaN without both
    groups); ``norms`` is (R, C)."""
    from ldr_mm.visualization.plotting import class_group
    hi = [i for i, c in enumerate(classes) if c in head]
    ti = [i for i, c in enumerate(classes) if class_group(c, head, tail) ==
          'tail']
    return [norms[r, hi].mean() / norms[r, ti].mean() if hi and ti
            else np.nan for r in range(len(norms))]


def plot_norms(args, labels, shown, order, names, ratios, head, tail,
               by_frequency):
    """Bars of ``shown`` (R, C) per class in ``order``; the PNG's path."""
    from ldr_mm.visualization.plotting import (SERIES_COLORS,
                                               group_legend_handles,
                                               mark_groups, new_figure,
                                               save_figure, set_class_ticks)
    R, C = shown.shape
    fig, ax = new_figure((max(6.5, 0.5 * C + 2.5), 4.2), args.dpi)
    mark_groups(ax, names, head, tail)
    x = np.arange(C)
    width = 0.8 / R
    for r in range(R):
        lab = labels[r] + (f' (head/tail norm ratio {ratios[r]:.2f})'
                           if np.isfinite(ratios[r]) else '')
        ax.bar(x - 0.4 + width * (r + 0.5), shown[r, order], width,
               color=SERIES_COLORS[r % len(SERIES_COLORS)], label=lab)
    set_class_ticks(ax, names)
    ax.set_ylabel('||w_c||_2' + (' / mean' if args.normalize else ''))
    lo = shown.min()
    ax.set_ylim(max(0, lo - 0.15 * (shown.max() - lo)),
                shown.max() + 0.1 * (shown.max() - lo))
    ax.grid(axis='y', alpha=0.3)
    ax.set_title('Classifier weight norm per class' + (
        ', classes by training frequency' if by_frequency else ''),
        fontsize=10)
    handles, _ = ax.get_legend_handles_labels()
    fig.legend(handles=handles + group_legend_handles(head, tail),
               fontsize=7, loc='outside lower center', ncol=2,
               frameon=False)
    return save_figure(fig, args.out)


def print_norms(labels, classes, order, norms, ratios, head, tail, freq):
    """The table of norms per class (and positives) and the ratios."""
    from ldr_mm.evaluation.report import format_table
    from ldr_mm.visualization.plotting import class_group
    header = ['class', 'group'] + (['train positives'] if freq is not None
                                   else []) + labels
    rows = [[classes[i], class_group(classes[i], head, tail)] +
            ([int(freq[i])] if freq is not None else []) +
            [float(v) for v in norms[:, i]] for i in order]
    print(format_table(header, rows))
    for lab, ratio in zip(labels, ratios):
        if np.isfinite(ratio):
            print(f'{lab}: mean head norm / mean tail norm = {ratio:.3f}')


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.visualization.plotting import dataset_groups
    weights, classes, meta = load_classifiers(args.checkpoints)
    labels = args.labels or [osp.splitext(osp.basename(p))[0]
                             for p in args.checkpoints]
    C = weights[0].shape[0]
    head, tail = dataset_groups(meta)
    freq = None
    if args.config:
        classes, head, tail, freq = config_classes(args.config, classes,
                                                   head, tail, C)
    if classes is None:
        classes = [str(i) for i in range(C)]
    order = np.argsort(-freq, kind='stable') if freq is not None else \
        np.arange(C)
    names = [classes[i] for i in order]

    norms = np.stack([np.linalg.norm(w, axis=1) for w in weights])
    shown = norms / norms.mean(1, keepdims=True) if args.normalize else norms
    ratios = head_tail_ratios(norms, classes, head, tail)
    path = plot_norms(args, labels, shown, order, names, ratios, head, tail,
                      freq is not None)
    print_norms(labels, classes, order, norms, ratios, head, tail, freq)
    print(f'Wrote {path}')
    return dict(classes=classes, norms=norms, ratios=ratios, path=path)


if __name__ == '__main__':
    main()
