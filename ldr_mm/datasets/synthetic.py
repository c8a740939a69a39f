"""Shared pieces of the generated long-tailed multi-label datasets.

The built-in demo (``demo.py``) and the MNIST-LT benchmark (``mnist_lt.py``)
both draw exact per-class positive counts that fall geometrically from the
head to the tail class and write one split as MMPretrain
``MultiLabelDataset`` JSON plus PNGs::

    <root>/images/<split>/000123.png
    <root>/<split>.json        {"metainfo": {...}, "data_list": [...]}

Every image is written atomically and the annotation file last, so the
presence of ``<split>.json`` means its split is complete.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np

from mmpretrain.datasets import MultiLabelDataset

from ldr_mm.utils.fileio import atomic_call, atomic_write
from .errors import AnnotationError
from .label_check import check_data_list


def geometric_class_counts(num_images: int, num_classes: int,
                           head_fraction: float, imbalance: float,
                           min_count: int = 1) -> List[int]:
    """Positive count per class, geometric from head to tail.

    Class 0 gets ``head_fraction * num_images`` positives and class C - 1
    ``imbalance`` times fewer (at least ``min_count``, at most
    ``num_images``).
    """
    head = head_fraction * num_images
    return [
        min(num_images,
            max(min_count,
                int(round(head * imbalance**(-c / max(num_classes - 1, 1))))))
        for c in range(num_classes)
    ]


def write_png(path: str, img: np.ndarray) -> None:
    """Write ``img`` (uint8) as a PNG, raising if OpenCV cannot."""
    if not cv2.imwrite(path, img):
        raise OSError(f'Could not write image "{path}"')


def write_multilabel_split(root: str, split: str, labels: np.ndarray,
                           render: Callable[[int], np.ndarray],
                           metainfo: Dict) -> str:
    """Write one split: its PNGs, then its annotation file.

    Args:
        root (str): Dataset directory.
        split (str): Split name (file names ``images/<split>/``,
            ``<split>.json``).
        labels (np.ndarray): (N, C) 0/1 label matrix.
        render (callable): ``render(i)`` returns image ``i`` (uint8 array).
        metainfo (dict): The annotation file's ``metainfo`` (``classes``,
            ``head_classes``, ``tail_classes``, ...).

    Returns:
        str: The annotation file path.
    """
    img_dir = osp.join(root, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    data_list = []
    for i in range(len(labels)):
        rel = f'images/{split}/{i:06d}.png'
        img = render(i)
        atomic_call(osp.join(root, rel),
                    lambda p, img=img: write_png(p, img))
        data_list.append(
            dict(img_path=rel,
                 gt_label=[int(c) for c in np.flatnonzero(labels[i])]))
    ann = osp.join(root, f'{split}.json')
    with atomic_write(ann) as f:
        json.dump(dict(metainfo=metainfo, data_list=data_list), f)
    return ann


def split_count_report(anns: Dict[str, str], classes) -> str:
    """Per-class positives of each written split, and the train imbalance.

    Args:
        anns (dict): ``{split: annotation file}``.
        classes (Sequence[str]): Class names, in label order.

    Returns:
        str: A table (class x split) and the imbalance ratio line.
    """
    counts = {}
    for split, ann in anns.items():
        with open(ann) as f:
            data = json.load(f)['data_list']
        c = np.zeros(len(classes), dtype=int)
        for d in data:
            c[d['gt_label']] += 1
        counts[split] = c
    width = max(10, max(len(n) for n in classes) + 2)
    lines = ['class'.ljust(width) + ''.join(s.rjust(8) for s in anns)]
    for i, name in enumerate(classes):
        lines.append(name.ljust(width) +
                     ''.join(str(counts[s][i]).rjust(8) for s in anns))
    tr = counts.get('train', next(iter(counts.values())))
    lines.append(f'imbalance ratio (train, max/min positives): '
                 f'{tr.max() / max(tr.min(), 1):.1f}')
    return '\n'.join(lines)


class GeneratedMultiLabelDataset(MultiLabelDataset):
    """Base of a generated dataset: ``<data_root>/<split>.json`` read as
    MMPretrain ``MultiLabelDataset`` JSON, made first when it is missing.

    Generation is deterministic (a few seconds) and concurrent ranks write
    identical files atomically, so it is safe under DDP. A subclass sets
    ``METAINFO``, ``NAME`` (for messages) and :meth:`ensure_split`
    (generate the split, or refuse it without ``generate``); loading checks
    every ``gt_label``.

    Args:
        data_root (str): Directory of the dataset.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        generate (bool): Generate missing files. Defaults to True.
        seed (int): Generation seed. Defaults to 0.
        splits (dict, optional): Split sizes for generation.
        image_size (int): Canvas side for generation. Defaults to 96.
        **kwargs: Other :class:`MultiLabelDataset` arguments.
    """
    NAME = 'Generated'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 generate: bool = True,
                 seed: int = 0,
                 splits: Optional[Dict[str, int]] = None,
                 image_size: int = 96,
                 **kwargs):
        self.ensure_split(data_root, split, generate, seed, splits,
                          image_size)
        super().__init__(
            ann_file=f'{split}.json', data_root=data_root, **kwargs)

    @staticmethod
    def ensure_split(data_root: str, split: str, generate: bool, seed: int,
                     splits: Optional[Dict[str, int]],
                     image_size: int) -> None:
        """Make ``<data_root>/<split>.json`` when needed (arguments as the
        constructor's); a subclass sets it to its module's function."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """MultiLabelDataset's loading, with every ``gt_label`` checked."""
        data_list = super().load_data_list()
        if not data_list:
            raise AnnotationError(
                f'{self.NAME} annotation file "{self.ann_file}" has no '
                'samples; delete it to regenerate the split')
        check_data_list(data_list, len(self.metainfo['classes']),
                        self.ann_file)
        self._ldr_labels_checked = True
        return data_list
