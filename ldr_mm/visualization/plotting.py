"""Headless matplotlib helpers shared by ``tools/analysis_tools``.

Figures are made with :class:`matplotlib.figure.Figure` and its Agg canvas,
never ``pyplot``: no global backend state, nothing needs a display, and the
PNG has exactly ``figsize * dpi`` pixels (no tight bounding box).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

HEAD_COLOR = '#d95f02'
TAIL_COLOR = '#1b9e77'
OTHER_COLOR = '#7570b3'
SERIES_COLORS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                 '#8c564b', '#e377c2', '#7f7f7f')


def new_figure(figsize: Tuple[float, float] = (8, 4.5), dpi: int = 100,
               nrows: int = 1, ncols: int = 1, **kwargs):
    """A (Figure, axes) pair on the Agg canvas, constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, dpi=dpi, layout='constrained')
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, **kwargs)
    return fig, axes


def save_figure(fig, path: str) -> str:
    """Write ``fig`` as PNG atomically (size ``figsize * dpi``).

    The rendering is stored with a 256-colour palette: plots have few
    colours, and this makes the files several times smaller than matplotlib's
    RGBA output with no visible difference.
    """
    from PIL import Image

    from ldr_mm.utils import atomic_call
    if not path.lower().endswith('.png'):
        raise ValueError(f'Figures are written as PNG; got "{path}"')
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(256)
    atomic_call(path, lambda tmp: image.save(tmp, format='PNG',
                                             optimize=True))
    return path


def class_group(name: str, head: Sequence[str],
                tail: Sequence[str]) -> str:
    """``'head'``, ``'tail'`` or ``''`` (groups unknown)."""
    if name in head:
        return 'head'
    if name in tail:
        return 'tail'
    return 'tail' if head and not tail else ''


def group_colors(classes: Sequence[str], head: Sequence[str],
                 tail: Sequence[str]) -> List[str]:
    out = []
    for c in classes:
        g = class_group(c, head, tail)
        out.append(HEAD_COLOR if g == 'head' else
                   TAIL_COLOR if g == 'tail' else OTHER_COLOR)
    return out


def mark_groups(ax, classes_in_order: Sequence[str], head: Sequence[str],
                tail: Sequence[str]) -> None:
    """Shade head / tail classes along the x axis (bar positions 0..C-1)
    and draw a dashed line where the head ends, if the head classes come
    first."""
    if not head and not tail:
        return
    groups = [class_group(c, head, tail) for c in classes_in_order]
    for x, g in enumerate(groups):
        if g:
            ax.axvspan(x - 0.5, x + 0.5, color=HEAD_COLOR if g == 'head'
                       else TAIL_COLOR, alpha=0.08, lw=0)
    n_head = sum(g == 'head' for g in groups)
    if 0 < n_head < len(groups) and all(g == 'head'
                                        for g in groups[:n_head]):
        ax.axvline(n_head - 0.5, color='k', ls='--', lw=1)


def group_legend_handles(head: Sequence[str], tail: Sequence[str]):
    from matplotlib.patches import Patch
    if not head and not tail:
        return []
    return [Patch(color=HEAD_COLOR, alpha=0.5, label='head classes'),
            Patch(color=TAIL_COLOR, alpha=0.5, label='tail classes')]


def dataset_groups(meta: Optional[Dict]) -> Tuple[List[str], List[str]]:
    """(head_classes, tail_classes) from a dataset meta dict."""
    meta = meta or {}
    return ([str(c) for c in meta.get('head_classes') or []],
            [str(c) for c in meta.get('tail_classes') or []])


def set_class_ticks(ax, classes: Sequence[str], fontsize: int = 8) -> None:
    ax.set_xticks(np.arange(len(classes)))
    rot = 0 if max((len(c) for c in classes), default=0) * len(
        classes) < 60 else 45
    ax.set_xticklabels(classes, rotation=rot, ha='right' if rot else
                       'center', fontsize=fontsize)
    ax.set_xlim(-0.6, len(classes) - 0.4)
