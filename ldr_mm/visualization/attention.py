"""Draw label-query attention maps over images.

:meth:`ldr_mm.models.LDRNeck.forward_attention` gives, for every class, the
last encoder layer's attention (averaged over heads) from the class's label
query to the h x w image tokens, renormalised to sum to one over the tokens.
The map lives on the grid of the *model input* (the image after the test
pipeline's geometric transforms), so it is drawn over that view of the image:
that is where it is exactly aligned. With a test pipeline that only resizes,
that view is the whole original image.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np


def upsample_map(attn: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Upsample an (h, w) map to ``size`` = (H, W) and keep its sum.

    Bicubic, with the (small) negative overshoot clipped: bilinear
    interpolation of a coarse map (3 x 3 for a 96 px image) has kinks at the
    token centres that look like edges in the colour map.

    Returns:
        np.ndarray: (H, W) float32 that sums to ``attn.sum()``.
    """
    attn = np.asarray(attn, dtype=np.float32)
    if attn.ndim != 2:
        raise ValueError(f'Expected an (h, w) map, got {attn.shape}')
    H, W = int(size[0]), int(size[1])
    up = cv2.resize(attn, (W, H), interpolation=cv2.INTER_CUBIC)
    up = np.clip(up, 0, None)
    total = up.sum()
    return up * (attn.sum() / total) if total > 0 else up


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, 3) image of any numeric type -> RGB uint8.

    Float or 16-bit images are min-max scaled to 0..255.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8:
        img = img.astype(np.float32)
        lo, hi = float(img.min()), float(img.max())
        img = ((img - lo) / (hi - lo) * 255 if hi > lo else img * 0)
        img = img.round().astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'Cannot display an image of shape {image.shape}')
    return np.ascontiguousarray(img)


def overlay_attention(image_rgb: np.ndarray,
                      attn: np.ndarray,
                      alpha: float = 0.5,
                      colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend a colour-mapped attention map over an RGB image.

    Args:
        image_rgb (np.ndarray): (H, W, 3) uint8 RGB.
        attn (np.ndarray): (h, w) attention over the image tokens; upsampled
            to (H, W) (:func:`upsample_map`) and scaled to its maximum for
            display.
        alpha (float): Weight of the heat map. Defaults to 0.5.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    image_rgb = to_rgb_uint8(image_rgb)
    H, W = image_rgb.shape[:2]
    up = upsample_map(attn, (H, W))
    peak = up.max()
    norm = up / peak if peak > 0 else up
    heat = cv2.applyColorMap((norm * 255).round().astype(np.uint8), colormap)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    out = (1 - alpha) * image_rgb.astype(np.float32) + alpha * heat.astype(
        np.float32)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def _caption(width: int, lines: Sequence[str], scale: float) -> np.ndarray:
    """A white strip with black text lines, ``width`` pixels wide."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = 1
    # one height for every caption of a row, from the nominal font size
    (_, top), base = cv2.getTextSize('Ag', font, scale, thick)
    height = top + base + 6
    rows = []
    for text in lines:
        s = scale
        # shrink the font until the line fits
        while s > 0.3 and cv2.getTextSize(text, font, s, thick)[0][0] > \
                width - 4:
            s *= 0.9
        row = np.full((height, width, 3), 255, np.uint8)
        cv2.putText(row, text, (2, top + 3), font, s, (0, 0, 0), thick,
                    cv2.LINE_AA)
        rows.append(row)
    return np.vstack(rows)


def display_scale(shape: Tuple[int, int], min_size: int = 0) -> int:
    """Integer upscaling factor that brings the short side to ``min_size``."""
    short = max(1, min(int(shape[0]), int(shape[1])))
    return max(1, int(np.ceil(min_size / short))) if min_size else 1


def attention_panels(image_rgb: np.ndarray,
                     maps: Sequence[np.ndarray],
                     titles: Sequence[str],
                     image_title: str = 'input',
                     alpha: float = 0.5,
                     min_size: int = 0,
                     font_scale: Optional[float] = None) -> np.ndarray:
    """One row: the image, then one overlay per map, each with a caption.

    Args:
        image_rgb (np.ndarray): (H, W, 3) RGB image the maps belong to.
        maps (Sequence[np.ndarray]): (h, w) maps.
        titles (Sequence[str]): One caption per map.
        min_size (int): Upscale small images (by the integer factor
            :func:`display_scale`) so their short side is at least this.

    Returns:
        np.ndarray: RGB uint8, ``k * W`` high (plus the caption strip) and
        ``k * W * (1 + len(maps))`` wide, with ``k = display_scale``.
    """
    image_rgb = to_rgb_uint8(image_rgb)
    k = display_scale(image_rgb.shape[:2], min_size)
    if k > 1:
        image_rgb = cv2.resize(
            image_rgb, (image_rgb.shape[1] * k, image_rgb.shape[0] * k),
            interpolation=cv2.INTER_CUBIC)
    H, W = image_rgb.shape[:2]
    scale = font_scale or max(0.35, min(0.8, W / 320))
    tiles: List[np.ndarray] = []
    for tile, title in [(image_rgb, image_title)] + [
            (overlay_attention(image_rgb, m, alpha), t)
            for m, t in zip(maps, titles)]:
        tiles.append(np.vstack([_caption(W, [title], scale), tile]))
    return np.hstack(tiles)


def write_png(path: str, image_rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG atomically."""
    from ldr_mm.utils import atomic_call

    bgr = cv2.cvtColor(to_rgb_uint8(image_rgb), cv2.COLOR_RGB2BGR)

    def _write(tmp):
        if not cv2.imwrite(tmp, bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f'Could not write "{path}"')

    atomic_call(path, _write)
