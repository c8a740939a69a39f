"""ROC and precision-recall curves, one panel per class (headless PNGs).

The points come from :mod:`ldr_mm.evaluation.clinical`; each panel shows the
class's AUC / AP, its positives, and the operating point at its threshold.
Masked label cells (target -1, U-Ignore) are left out of their class's
curve, value and positive rate.
"""
import math
from typing import Sequence

import numpy as np

from .plotting import HEAD_COLOR, OTHER_COLOR, TAIL_COLOR, class_group


def _grid(num: int, dpi: int):
    from .plotting import new_figure
    ncols = min(4, num)
    nrows = int(math.ceil(num / ncols))
    fig, axes = new_figure((3.0 * ncols, 2.9 * nrows), dpi, nrows, ncols)
    return fig, np.atleast_1d(axes).ravel()


def _color(name, head, tail) -> str:
    g = class_group(name, head, tail)
    return HEAD_COLOR if g == 'head' else TAIL_COLOR if g == 'tail' else \
        OTHER_COLOR


def _panels(kind: str, scores, targets, classes: Sequence[str], head, tail,
            thr, path: str, dpi: int) -> str:
    from ldr_mm.evaluation.functional import (average_precision_per_class,
                                              roc_auc_per_class)
    from ldr_mm.evaluation.clinical import (pr_curve_points,
                                            roc_curve_points,
                                            threshold_metrics)
    from .plotting import save_figure
    roc = kind == 'roc'
    summary = (roc_auc_per_class if roc else average_precision_per_class)(
        scores, targets)
    op = threshold_metrics(scores, targets, thr)
    fig, axes = _grid(len(classes), dpi)
    for c, ax in enumerate(axes):
        if c >= len(classes):
            ax.set_axis_off()
            continue
        name = classes[c]
        pos = int((np.asarray(targets)[:, c] == 1).sum())
        known = int((np.asarray(targets)[:, c] >= 0).sum())
        label = 'AUC' if roc else 'AP'
        value = 'n/a' if math.isnan(summary[c]) else f'{summary[c]:.3f}'
        ax.set_title(f'{name} ({pos} pos): {label} {value}', fontsize=8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
        if math.isnan(summary[c]):
            ax.text(0.5, 0.5, 'one label value only', ha='center',
                    fontsize=7)
            continue
        if roc:
            x, y = roc_curve_points(scores, targets, c)
            ax.plot([0, 1], [0, 1], color='0.7', lw=0.8, ls='--')
            px, py = 1 - op['spec'][c], op['sens'][c]
        else:
            x, y = pr_curve_points(scores, targets, c)
            # AP = sum (R_k - R_k-1) P_k: P_k holds on (R_k-1, R_k]
            x, y = np.r_[0.0, x], np.r_[y[0], y]
            ax.axhline(pos / known, color='0.7', lw=0.8, ls='--')
            px, py = op['sens'][c], op['ppv'][c]
        ax.plot(x, y, color=_color(name, head, tail), lw=1.4,
                drawstyle='default' if roc else 'steps-pre')
        if not (math.isnan(px) or math.isnan(py)):
            ax.plot([px], [py], 'ko', ms=4)
            ax.annotate(f'thr {thr[c]:.2f}', (px, py), fontsize=6,
                        xytext=(4, -10), textcoords='offset points')
    xl, yl = ('1 - specificity', 'sensitivity') if roc else (
        'recall (sensitivity)', 'precision (PPV)')
    fig.supxlabel(xl, fontsize=9)
    fig.supylabel(yl, fontsize=9)
    return save_figure(fig, path)


def plot_roc_curves(scores, targets, classes, head, tail, thresholds,
                    path: str, dpi: int = 100) -> str:
    """ROC curve of every class (dashed: chance), the operating point at
    its threshold marked; writes ``path`` (PNG) and returns it."""
    return _panels('roc', scores, targets, classes, head, tail,
                   np.asarray(thresholds, dtype=np.float64), path, dpi)


def plot_pr_curves(scores, targets, classes, head, tail, thresholds,
                   path: str, dpi: int = 100) -> str:
    """Precision-recall curve of every class (dashed: the positive rate,
    a random ranking's precision); operating point marked."""
    return _panels('pr', scores, targets, classes, head, tail,
                   np.asarray(thresholds, dtype=np.float64), path, dpi)
