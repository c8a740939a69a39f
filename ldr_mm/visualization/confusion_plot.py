"""The multi-label co-confusion matrix as a headless PNG."""
from typing import Sequence

import numpy as np


def plot_co_confusion(matrix: np.ndarray, classes: Sequence[str],
                      row_counts: Sequence[int], path: str,
                      title: str = '', dpi: int = 100) -> str:
    """Heat map of :func:`ldr_mm.evaluation.clinical.co_confusion`.

    Args:
        matrix (np.ndarray): (C + 1, C) counts: rows = images of each class
            and, last, images without any label; diagonal = missed; other
            entries = false calls of the column class.
        classes (Sequence[str]): C class names.
        row_counts (Sequence[int]): (C + 1,) images per row (the row's
            denominator).
        path (str): Output PNG.

    Returns:
        str: ``path``.
    """
    import matplotlib

    from .plotting import new_figure, save_figure
    matrix = np.asarray(matrix, dtype=np.float64)
    n = np.asarray(row_counts, dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        frac = matrix / n[:, None]
    rows = [f'{c} (n={int(k)})' for c, k in zip(classes, n)]
    rows.append(f'no label (n={int(n[-1])})')
    C = len(classes)
    side = max(5.0, 0.5 * C + 3.0)
    fig, ax = new_figure((side + 1.5, side), dpi)
    cmap = matplotlib.colormaps['magma_r'].with_extremes(bad='lightgrey')
    im = ax.imshow(np.ma.masked_invalid(frac), cmap=cmap, vmin=0, vmax=1,
                   aspect='auto')
    fig.colorbar(im, ax=ax, shrink=0.8,
                 label='fraction of the row\'s images')
    if C <= 20:
        for i in range(C + 1):
            for j in range(C):
                if matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha='center',
                            va='center', fontsize=6,
                            color='w' if frac[i, j] > 0.5 else 'k')
    for i in range(C):
        ax.add_patch(matplotlib.patches.Rectangle(
            (i - 0.5, i - 0.5), 1, 1, fill=False, lw=1.2, ec='tab:blue'))
    ax.set_xticks(np.arange(C))
    ax.set_yticks(np.arange(C + 1))
    ax.set_xticklabels(classes, rotation=60, ha='right', fontsize=7)
    ax.set_yticklabels(rows, fontsize=7)
    ax.set_xlabel('diagonal (boxed): class missed; off-diagonal: column '
                  'class called but absent', fontsize=8)
    ax.set_ylabel('images that have the row class', fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
