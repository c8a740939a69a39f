"""Reliability diagrams, one panel per class (headless PNG).

The points are :func:`ldr_mm.evaluation.calibration.reliability_bins`
(equal-mass bins over the class's known rows); each panel shows the class's
ECE and Brier score. A perfectly calibrated class lies on the diagonal.
"""
import math

import numpy as np

from .curve_plots import _color, _grid


def plot_reliability(scores, targets, classes, head, tail, num_bins: int,
                     path: str, dpi: int = 100) -> str:
    """Mean score (x) against the observed positive rate (y) per bin.

    Args:
        scores: (N, C) probabilities.
        targets: (N, C) labels, 1, 0 or -1 (masked: left out).
        classes, head, tail: Class names and the head / tail groups.
        num_bins (int): Equal-mass bins per class.
        path (str): Output PNG.

    Returns:
        str: ``path``.
    """
    from ldr_mm.evaluation.calibration import (brier_per_class,
                                               ece_equal_mass,
                                               reliability_bins)
    from .plotting import save_figure
    ece = ece_equal_mass(scores, targets, num_bins)
    brier = brier_per_class(scores, targets)
    fig, axes = _grid(len(classes), dpi)
    for c, ax in enumerate(axes):
        if c >= len(classes):
            ax.set_axis_off()
            continue
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
        ax.plot([0, 1], [0, 1], color='0.7', lw=0.8, ls='--')
        if math.isnan(ece[c]):
            ax.set_title(f'{classes[c]}: no known labels', fontsize=8)
            continue
        ax.set_title(f'{classes[c]}: ECE {ece[c]:.3f}, Brier '
                     f'{brier[c]:.3f}', fontsize=8)
        x, y, n = reliability_bins(scores, targets, c, num_bins)
        ax.plot(x, y, 'o-', color=_color(classes[c], head, tail), lw=1.2,
                ms=3)
    fig.supxlabel(f'mean score in bin ({num_bins} equal-mass bins)',
                  fontsize=9)
    fig.supylabel('observed positive rate', fontsize=9)
    return save_figure(fig, path)
