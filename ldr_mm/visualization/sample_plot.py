"""One dataset sample as a picture: the image as loaded and as the pipeline
gives it to the model, captioned with its label names."""
from typing import Optional, Sequence

import numpy as np

from .plotting import HEAD_COLOR, OTHER_COLOR, TAIL_COLOR, class_group


def to_rgb(img) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a loaded BGR / gray image or a (3, H, W)
    pipeline tensor (BGR, as OpenCV loads it)."""
    if hasattr(img, 'numpy'):
        img = img.detach().cpu().numpy()
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = img.transpose(1, 2, 0)
    img = np.asarray(img)
    if img.dtype != np.uint8:
        lo, hi = float(img.min()), float(img.max())
        img = ((img - lo) / max(hi - lo, 1e-12) * 255).round().astype(
            np.uint8)
    if img.ndim == 2 or img.shape[2] == 1:
        img = np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, 2)
    return np.ascontiguousarray(img[..., ::-1])


def plot_sample(panels: Sequence[tuple], labels: Sequence[str],
                head: Sequence[str], tail: Sequence[str], title: str,
                path: str, dpi: int = 100,
                panel_inches: float = 3.2,
                note: Optional[str] = None) -> str:
    """Write a PNG: one panel per ``(caption, image)``, the label names
    below, coloured by head / tail group.

    Args:
        panels: ``[(caption, image), ...]``; images as :func:`to_rgb` takes.
        labels (Sequence[str]): The sample's positive class names.
        head, tail (Sequence[str]): The dataset's groups (may be empty).
        title (str): Figure title (e.g. the image path).
        path (str): Output PNG.
    """
    from .plotting import new_figure, save_figure
    n = len(panels)
    fig, axes = new_figure((panel_inches * n, panel_inches + 0.9), dpi, 1, n)
    axes = np.atleast_1d(axes)
    for ax, (caption, img) in zip(axes, panels):
        rgb = to_rgb(img)
        ax.imshow(rgb, interpolation='nearest')
        ax.set_title(f'{caption} {rgb.shape[1]}x{rgb.shape[0]}', fontsize=8)
        ax.set_axis_off()
    fig.suptitle(title, fontsize=8)
    text = labels or ['(no label)']
    x = 0.02
    for name in text:
        g = class_group(name, head, tail) if labels else ''
        color = HEAD_COLOR if g == 'head' else TAIL_COLOR if g == 'tail' \
            else OTHER_COLOR
        t = fig.text(x, 0.02, name + (f' ({g})' if g else ''),
                     color=color, fontsize=8, weight='bold')
        fig.canvas.draw()
        box = t.get_window_extent().transformed(fig.transFigure.inverted())
        x = box.x1 + 0.015
    if note:
        fig.text(0.98, 0.02, note, fontsize=7, ha='right', color='0.3')
    return save_figure(fig, path)
