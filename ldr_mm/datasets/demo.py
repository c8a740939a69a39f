"""A small built-in long-tailed multi-label dataset ("synthetic scans").

Generated deterministically from a seed, no download: 96x96 grayscale PNGs of
a noisy ellipse ("body") with soft anatomical clutter, on which each present
finding is drawn as a visible pattern at a random place and size. Positive
counts per class fall geometrically from the head to the tail class (train
imbalance ratio 64), and some findings co-occur (a tail finding appears mostly
together with a head one), as comorbidities do.

Files (MMPretrain ``MultiLabelDataset`` JSON, so any MMPretrain tool reads it)::

    <root>/images/{train,val,test}/000123.png
    <root>/{train,val,test}.json
"""
import json
import os.path as osp
import warnings
import zlib
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from mmpretrain.registry import DATASETS

from .synthetic import (GeneratedMultiLabelDataset, geometric_class_counts,
                        write_multilabel_split)

DEMO_CLASSES = ('opacity', 'nodule', 'ring', 'streak', 'cross', 'square',
                'triangle', 'stripes', 'speckle', 'cavity')
DEMO_HEAD = DEMO_CLASSES[:4]
DEMO_TAIL = DEMO_CLASSES[4:]
#: The dataset's metainfo, also written into every split file.
DEMO_METAINFO = dict(
    classes=DEMO_CLASSES, head_classes=DEMO_HEAD, tail_classes=DEMO_TAIL)
# (child, parent, share): `share` of the child's positives are drawn from the
# images that carry the parent finding.
DEMO_COOCCURRENCE = (('cavity', 'opacity', 0.7), ('speckle', 'nodule', 0.6),
                     ('stripes', 'streak', 0.5), ('triangle', 'ring', 0.4))
# The test split is 5x the first release's 800 images so that differences
# between configs of a few hundredths of tail mAP can be told from test noise
# (the tail classes have 25-160 test positives). The validation split is 5x
# version 2's 400 images: there the tail classes had 8-25 positives (the
# DEMO_MIN_POSITIVES floor, so a class distribution unlike train / test), and
# decisions taken on it did not hold on test (docs/recipe.md, "Re-measured on
# the demo's 2000-image validation split").
# The train split is unchanged since version 1.
DEMO_SPLITS = dict(train=1600, val=2000, test=4000)
DEMO_IMBALANCE = 64.0
DEMO_HEAD_FRACTION = 0.4  # positives of the most frequent class / images
DEMO_MIN_POSITIVES = 8  # in val / test, so every class can be evaluated
DEMO_VERSION = 3  # 2: test split 800 -> 4000 images; 3: val 400 -> 2000


def demo_class_counts(num_images: int, min_count: int = 1) -> List[int]:
    """Positive count per class: geometric from head to tail."""
    return geometric_class_counts(num_images, len(DEMO_CLASSES),
                                  DEMO_HEAD_FRACTION, DEMO_IMBALANCE,
                                  min_count)


def _sample_labels(num_images: int, counts: Sequence[int],
                   rng: np.random.Generator) -> np.ndarray:
    """(N, C) 0/1 matrix with exactly ``counts[c]`` positives per class."""
    C = len(DEMO_CLASSES)
    labels = np.zeros((num_images, C), dtype=np.int64)
    parent_of = {DEMO_CLASSES.index(c): (DEMO_CLASSES.index(p), s)
                 for c, p, s in DEMO_COOCCURRENCE}
    for c in range(C):  # parents come before children in DEMO_CLASSES
        n = counts[c]
        if c in parent_of:
            p, share = parent_of[c]
            with_parent = np.flatnonzero(labels[:, p])
            k = min(int(round(share * n)), len(with_parent))
            chosen = rng.choice(with_parent, size=k, replace=False)
            rest = np.setdiff1d(np.arange(num_images), chosen)
            chosen = np.concatenate(
                [chosen, rng.choice(rest, size=n - k, replace=False)])
        else:
            chosen = rng.choice(num_images, size=n, replace=False)
        labels[chosen, c] = 1
    return labels


class _Canvas:
    """Float image in [0, 1] with soft-edged drawing primitives."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = size
        self.k = size / 96.0  # geometry is designed for 96 px, scaled
        self.rng = rng
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self.yy, self.xx = yy, xx
        cy, cx = size / 2 + rng.normal(0, 2, 2)
        ry, rx = size * rng.uniform(0.40, 0.46, 2)
        body = ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2
        self.body_mask = body < 1
        img = 0.12 + 0.28 * np.clip(1 - body, 0, 1)**0.5
        for _ in range(rng.integers(3, 6)):  # anatomical clutter
            by, bx = rng.uniform(0.2, 0.8, 2) * size
            r = rng.uniform(6, 14) * self.k
            img += rng.uniform(-0.06, 0.06) * np.exp(
                -((yy - by)**2 + (xx - bx)**2) / (2 * r * r))
        self.img = img

    def place(self, margin: float):
        """A random centre inside the body, ``margin`` px from the border."""
        margin = min(margin * self.k, self.size / 2 - 1)
        for _ in range(100):
            cy, cx = self.rng.uniform(margin, self.size - margin, 2)
            if self.body_mask[int(cy), int(cx)]:
                return cy, cx
        return self.size / 2, self.size / 2

    def add(self, mask: np.ndarray, amount: float):
        self.img += amount * mask

    def soft(self, dist: np.ndarray, width: float = 1.0) -> np.ndarray:
        """1 inside (dist < 0), 0 outside, linear ramp of ``width`` px."""
        return np.clip(0.5 - dist / max(width * self.k, 0.5), 0, 1)


def _draw_opacity(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(18)
    r = 13 * s
    canvas.add(np.exp(-((yy - cy)**2 + (xx - cx)**2) / (2 * r * r / 2)),
               contrast * 0.8)


def _draw_nodule(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(8)
    d = np.hypot(yy - cy, xx - cx) - 4 * s
    canvas.add(canvas.soft(d), contrast)


def _draw_ring(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(12)
    d = np.abs(np.hypot(yy - cy, xx - cx) - 8 * s) - 1.2 * w
    canvas.add(canvas.soft(d), contrast)


def _draw_streak(canvas: _Canvas, s: float, w: float, contrast: float):
    rng, yy, xx = canvas.rng, canvas.yy, canvas.xx
    cy, cx = canvas.place(18)
    a = rng.uniform(0, np.pi)
    u = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
    v = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
    d = np.maximum(np.abs(v) - 1.0 * w, np.abs(u) - 15 * s)
    canvas.add(canvas.soft(d), contrast)


def _draw_cross(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(10)
    h = 7 * s
    d1 = np.maximum(np.abs(yy - cy) - 1.2 * w, np.abs(xx - cx) - h)
    d2 = np.maximum(np.abs(xx - cx) - 1.2 * w, np.abs(yy - cy) - h)
    canvas.add(canvas.soft(np.minimum(d1, d2)), contrast)


def _draw_square(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(10)
    d = np.maximum(np.abs(yy - cy), np.abs(xx - cx)) - 5 * s
    canvas.add(canvas.soft(d), contrast)


def _draw_triangle(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(12)
    r = 8 * s
    d = np.full_like(yy, -np.inf)
    for k in range(3):  # intersection of three half-planes
        a = np.pi / 2 + k * 2 * np.pi / 3
        d = np.maximum(d, (xx - cx) * np.cos(a) +
                       (yy - cy) * np.sin(a) - r / 2)
    canvas.add(canvas.soft(d), contrast)


def _draw_stripes(canvas: _Canvas, s: float, w: float, contrast: float):
    rng, yy, xx = canvas.rng, canvas.yy, canvas.xx
    cy, cx = canvas.place(12)
    box = np.maximum(np.abs(yy - cy), np.abs(xx - cx)) - 8 * s
    a = rng.uniform(0, np.pi)
    wave = 0.5 + 0.5 * np.sin(
        2 * np.pi * ((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)) / (4 * w))
    canvas.add(canvas.soft(box) * wave, contrast)


def _draw_speckle(canvas: _Canvas, s: float, w: float, contrast: float):
    rng, yy, xx = canvas.rng, canvas.yy, canvas.xx
    cy, cx = canvas.place(14)
    for _ in range(rng.integers(6, 10)):
        dy, dx = rng.normal(0, 5 * s, 2)
        d = np.hypot(yy - cy - dy, xx - cx - dx) - 1.3 * w
        canvas.add(canvas.soft(d), contrast)


def _draw_cavity(canvas: _Canvas, s: float, w: float, contrast: float):
    yy, xx = canvas.yy, canvas.xx
    cy, cx = canvas.place(10)
    r = 5.5 * s
    dist = np.hypot(yy - cy, xx - cx)
    canvas.add(canvas.soft(dist - r), -contrast * 1.2)
    canvas.add(canvas.soft(np.abs(dist - r - 1.0 * w) - 0.7 * w), contrast)


_SHAPES = {
    'opacity': _draw_opacity,
    'nodule': _draw_nodule,
    'ring': _draw_ring,
    'streak': _draw_streak,
    'cross': _draw_cross,
    'square': _draw_square,
    'triangle': _draw_triangle,
    'stripes': _draw_stripes,
    'speckle': _draw_speckle,
    'cavity': _draw_cavity,
}


def _draw(canvas: _Canvas, name: str, contrast: float):
    """Add shape ``name`` at a random place; ``s`` scales size, ``w`` lines."""
    s = canvas.rng.uniform(0.8, 1.2) * canvas.k  # size factor
    w = max(canvas.k, 0.5)  # line-width factor
    _SHAPES[name](canvas, s, w, contrast)


def render_demo_image(labels: Sequence[int], seed: int,
                      size: int = 96) -> np.ndarray:
    """Render one image (uint8, size x size) showing the given findings."""
    rng = np.random.default_rng(seed)
    canvas = _Canvas(size, rng)
    for c in np.flatnonzero(labels):
        _draw(canvas, DEMO_CLASSES[c], contrast=rng.uniform(0.18, 0.32))
    img = canvas.img + rng.normal(0, 0.05, canvas.img.shape)
    img = cv2.GaussianBlur(img.astype(np.float32), (3, 3), 0.6)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _stale_split(ann: str, seed: Optional[int] = None,
                 num_images: Optional[int] = None,
                 size: Optional[int] = None) -> Optional[str]:
    """Why an existing split file does not match the request, or None.

    The demo version is always checked; seed, number of images and image
    side when given.
    """
    try:
        with open(ann) as f:
            data = json.load(f)
        meta, n = data['metainfo'], len(data['data_list'])
    except (ValueError, KeyError, TypeError) as e:
        return f'cannot be read ({e})'
    want = dict(demo_version=DEMO_VERSION, seed=seed, images=num_images,
                image_size=size)
    have = dict(demo_version=meta.get('demo_version'), seed=meta.get('seed'),
                images=n, image_size=meta.get('image_size', 96))
    if have['demo_version'] is None:  # not written by this generator
        want['demo_version'] = None
    diff = [f'{k} {have[k]} (wanted {v})' for k, v in want.items()
            if v is not None and have[k] != v]
    return ('has ' + ', '.join(diff)) if diff else None


def generate_demo_dataset(root: str,
                          seed: int = 0,
                          splits: Optional[Dict[str, int]] = None,
                          size: int = 96,
                          overwrite: bool = False) -> Dict[str, str]:
    """Write the demo images and annotation files under ``root``.

    Deterministic: the same seed and sizes give byte-identical files. Each
    annotation file is written last and atomically, so its presence means
    its split is complete. An existing split made with another version,
    seed, size or number of images is regenerated (and said so), never
    silently reused.

    Args:
        root (str): Output directory.
        seed (int): Random seed. Defaults to 0.
        splits (dict, optional): ``{split: num_images}``. Defaults to
            ``DEMO_SPLITS`` (1600 / 2000 / 4000).
        size (int): Image side in pixels. Defaults to 96.
        overwrite (bool): Regenerate existing splits.

    Returns:
        dict: ``{split: annotation file path}``.
    """
    splits = dict(DEMO_SPLITS if splits is None else splits)
    out = {}
    for split, n in splits.items():
        ann = osp.join(root, f'{split}.json')
        out[split] = ann
        if osp.isfile(ann) and not overwrite:
            stale = _stale_split(ann, seed, n, size)
            if not stale:
                continue
            warnings.warn(f'Demo split "{ann}" {stale}; regenerating it.')
        rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
        min_count = 1 if split == 'train' else DEMO_MIN_POSITIVES
        labels = _sample_labels(n, demo_class_counts(n, min_count), rng)
        img_seeds = rng.integers(0, 2**31 - 1, size=n)
        meta = dict(DEMO_METAINFO, demo_version=DEMO_VERSION, seed=seed,
                    image_size=size)
        write_multilabel_split(
            root, split, labels,
            lambda i, labels=labels, img_seeds=img_seeds: render_demo_image(
                labels[i], int(img_seeds[i]), size), meta)
    return out


def _ensure_split(data_root: str, split: str, generate: bool, seed: int,
                  splits: Optional[Dict[str, int]], image_size: int) -> None:
    """Generate a missing split, or one of another demo version (e.g. the
    800-image test split of version 1); without ``generate``, refuse it. A
    split of another size or image side than ``splits`` asks for is read,
    with a warning that says so."""
    ann = osp.join(data_root, f'{split}.json')
    exists = osp.isfile(ann)
    stale = _stale_split(ann) if exists else None
    if exists and not stale and splits is not None and split in splits:
        other = _stale_split(ann, None, splits[split], image_size)
        if other:  # a dataset made on purpose with other sizes is kept
            warnings.warn(f'Demo split "{ann}" {other}; reading it as it '
                          'is. Delete it to have the requested one made.')
    make = f'`python tools/misc/make_demo_dataset.py {data_root} --overwrite`'
    if not generate:
        if not exists:
            raise FileNotFoundError(
                f'Demo annotation file "{ann}" is missing; make it with '
                f'`python tools/misc/make_demo_dataset.py {data_root}`')
        if stale:
            raise ValueError(f'Demo split "{ann}" {stale}; regenerate it '
                             f'with {make}')
        return
    if exists and not stale:
        return
    sizes = dict(DEMO_SPLITS if splits is None else splits)
    if split not in sizes:
        raise KeyError(f'Unknown demo split {split!r}; known: '
                       f'{sorted(sizes)}')
    if stale:
        warnings.warn(f'Demo split "{ann}" {stale}; regenerating it.')
        sizes = {split: sizes[split]}
    generate_demo_dataset(data_root, seed=seed, splits=sizes,
                          size=image_size, overwrite=bool(stale))


@DATASETS.register_module()
class LDRDemoDataset(GeneratedMultiLabelDataset):
    """The built-in long-tailed multi-label demo dataset.

    A :class:`~ldr_mm.datasets.synthetic.GeneratedMultiLabelDataset` (see
    it for the arguments): a split made by another version of the generator
    (:data:`DEMO_VERSION`) is also generated again (deterministic, a few
    seconds), or, without ``generate``, refused with the command that
    remakes it.
    """
    METAINFO = DEMO_METAINFO

    NAME = 'Demo'
    ensure_split = staticmethod(_ensure_split)
