"""The label matrix of a dataset split named by a config."""
import copy
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config

from ldr_mm.datasets.metadata import metadata_only

SPLITS = ('train', 'val', 'test')


class SplitLabels(NamedTuple):
    """Labels of one split.

    Attributes:
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        classes (list[str]): C class names.
        head (list[str]): Head classes from the dataset metainfo (may be
            empty).
        tail (list[str]): Tail classes.
        labels (np.ndarray): (N, C) uint8 multi-hot matrix.
    """
    split: str
    classes: List[str]
    head: List[str]
    tail: List[str]
    labels: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return self.labels.sum(0).astype(np.int64)


def split_labels(config: Union[str, Config], split: str = 'train',
                 cfg_options: dict = None) -> SplitLabels:
    """Build ``<split>_dataloader.dataset`` of ``config`` and read its labels.

    Only the annotation files are read (``get_cat_ids``), not the images:
    the images need not be on disk (:func:`metadata_only`).

    Raises:
        ValueError: Unknown split, or the config has no such dataloader.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    cfg = Config.fromfile(config) if isinstance(config, str) else \
        copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        raise ValueError(f'The config has no {split}_dataloader.dataset')
    from mmengine.registry import init_default_scope

    from mmpretrain.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = metadata_only(copy.deepcopy(loader['dataset']), DATASETS)
    dataset = DATASETS.build(ds_cfg)
    meta = dataset.metainfo
    classes = [str(c) for c in meta.get('classes') or []]
    if not classes:
        raise ValueError(f'The {split} dataset declares no classes')
    labels = np.zeros((len(dataset), len(classes)), dtype=np.uint8)
    for i in range(len(dataset)):
        ids = np.asarray(dataset.get_cat_ids(i), dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(classes)):
            raise ValueError(f'{split} sample {i}: label ids {ids.tolist()} '
                             f'outside 0..{len(classes) - 1}')
        labels[i, ids] = 1
    return SplitLabels(split, classes,
                       [str(c) for c in meta.get('head_classes') or []],
                       [str(c) for c in meta.get('tail_classes') or []],
                       labels)


def frequency_groups(classes: Sequence[str], counts: Sequence[int],
                     threshold: Optional[int] = None
                     ) -> Tuple[List[str], List[str]]:
    """Head / tail classes by training frequency.

    A class is head when it has at least ``threshold`` positive training
    samples (default: the median count), else tail. On the paper's NIH
    split the paper's own groups differ: it calls Pneumonia (1,021 training
    images) head and Nodule (4,501) tail.

    Returns:
        tuple: (head class names, tail class names), in class order.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if len(classes) != counts.size:
        raise ValueError(f'{counts.size} counts for {len(classes)} classes')
    if threshold is None:
        threshold = int(np.ceil(np.median(counts)))
    head = [str(c) for c, n in zip(classes, counts) if n >= threshold]
    tail = [str(c) for c, n in zip(classes, counts) if n < threshold]
    if not head or not tail:
        raise ValueError(
            f'Frequency threshold {threshold} puts every class in one group '
            f"(training positives per class: "
            f"{dict(zip(classes, counts.tolist()))}"
            '); choose a threshold between the smallest and largest count')
    return head, tail
