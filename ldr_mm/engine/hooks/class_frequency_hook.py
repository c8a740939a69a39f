"""Give losses that need them the training set's class frequencies."""
from typing import Sequence, Tuple

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmpretrain.registry import HOOKS


def dataset_class_frequencies(dataset) -> Tuple[np.ndarray, int]:
    """Positives per class (C,) and the number of samples of a dataset.

    Uses the dataset's ``positive_counts()`` when it has one (the ldr_mm
    medical datasets) and otherwise ``get_cat_ids(i)`` of every sample (any
    MMPretrain ``MultiLabelDataset``, and dataset wrappers that forward it);
    no image is read.

    Raises:
        ValueError: The dataset has no ``classes`` in its metainfo.
    """
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes')
    if not classes:
        raise ValueError(f'{type(dataset).__name__} has no "classes" in its '
                         'metainfo: cannot count positives per class')
    n = len(dataset)
    counter = getattr(dataset, 'positive_counts', None)
    if callable(counter):
        counts = np.asarray(counter(), dtype=np.int64)
    else:
        counts = np.zeros(len(classes), dtype=np.int64)
        for i in range(n):
            ids = np.unique(np.asarray(dataset.get_cat_ids(i), dtype=np.int64))
            counts[ids] += 1
    if counts.shape != (len(classes), ):
        raise ValueError(f'{type(dataset).__name__}: {counts.shape[0]} '
                         f'counts for {len(classes)} classes')
    return counts, n


@HOOKS.register_module()
class ClassFrequencyHook(Hook):
    """Fill losses' class frequencies from the training set before training.

    Every module of the model with a ``set_class_frequencies(class_counts,
    num_samples, classes=..., source=...)`` method (e.g.
    :class:`~ldr_mm.models.losses.DistributionBalancedLoss`) gets the
    positives per class and the size of ``runner.train_dataloader.dataset``.
    Every rank counts the same (full) dataset, so DDP ranks agree. Counts
    already given in the loss config are kept unless ``overwrite=True``.

    Args:
        overwrite (bool): Replace counts given in the config. Defaults to
            False.
    """
    priority = 'HIGH'

    def __init__(self, overwrite: bool = False):
        self.overwrite = overwrite

    @staticmethod
    def _targets(model) -> Sequence:
        return [m for m in model.modules()
                if callable(getattr(m, 'set_class_frequencies', None))]

    def before_train(self, runner) -> None:
        targets = self._targets(runner.model)
        if not targets:
            print_log('ClassFrequencyHook: no module of the model takes '
                      'class frequencies; nothing to do.', logger='current')
            return
        todo = [m for m in targets if self.overwrite or not getattr(
            m, 'has_class_frequencies', False)]
        if not todo:
            return
        dataset = runner.train_dataloader.dataset
        counts, n = dataset_class_frequencies(dataset)
        classes = list(dataset.metainfo['classes'])
        source = f'training set {type(dataset).__name__} ({n} samples)'
        for m in todo:
            m.set_class_frequencies(counts, n, classes=classes,
                                    source=source)
        print_log(
            f'ClassFrequencyHook: {source}, positives per class '
            f'{dict(zip(classes, counts.tolist()))} -> '
            f'{", ".join(type(m).__name__ for m in todo)}',
            logger='current')
