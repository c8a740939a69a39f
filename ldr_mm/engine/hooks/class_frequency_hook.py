"""Give losses that need them the training set's class frequencies."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmpretrain.registry import HOOKS


def _labels_and_mask(dataset, idx: int, num_classes: int
                     ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Positive class indices and the (C,) 0/1 ``gt_mask`` (None: every
    label known) of sample ``idx``.

    Raises:
        ValueError: A mask that is not (C,) 0/1, naming the sample.
    """
    get_info = getattr(dataset, 'get_data_info', None)
    info = get_info(idx) if callable(get_info) else {}
    ids = info['gt_label'] if 'gt_label' in info else \
        dataset.get_cat_ids(idx)
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    mask = info.get('gt_mask')
    if mask is None:
        return ids, None
    mask = np.asarray(mask)
    if mask.shape != (num_classes, ) or not np.isin(mask, (0, 1)).all():
        raise ValueError(
            f'{type(dataset).__name__} sample {idx} '
            f'("{info.get("img_path", "?")}"): gt_mask must be '
            f'({num_classes},) 0/1 (1 = known label), got shape '
            f'{mask.shape}')
    return ids, mask.astype(np.int64)


def dataset_class_frequencies(dataset
                              ) -> Tuple[np.ndarray, Union[int, np.ndarray]]:
    """Positives per class (C,) and the number of known labels of a dataset.

    Reads every sample's labels (``get_data_info(i)['gt_label']``, or
    ``get_cat_ids(i)`` of datasets without data infos: any MMPretrain
    ``MultiLabelDataset``, the ldr_mm datasets, dataset wrappers that
    forward them) and U-Ignore masks (``gt_mask``, 0 = uncertain); no image
    is read. A masked label is neither a positive nor a negative of its
    class.

    Returns:
        tuple: (C,) int64 positives among the known labels, and N, the
        number of samples (int) when no sample has a mask, otherwise a (C,)
        int64 array: the samples whose label of class c is known.

    Raises:
        ValueError: The dataset has no ``classes`` in its metainfo, or a
            sample's mask is not (C,) 0/1.
    """
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = meta.get('classes')
    if not classes:
        raise ValueError(f'{type(dataset).__name__} has no "classes" in its '
                         'metainfo: cannot count positives per class')
    n, C = len(dataset), len(classes)
    counts = np.zeros(C, dtype=np.int64)
    known = np.full(C, n, dtype=np.int64)
    masked = False
    for i in range(n):
        ids, mask = _labels_and_mask(dataset, i, C)
        if ids.size and (ids.min() < 0 or ids.max() >= C):
            raise ValueError(f'{type(dataset).__name__} sample {i}: label '
                             f'{ids.tolist()} outside the {C} classes')
        if mask is None:
            counts[ids] += 1
            continue
        masked = True
        counts[ids] += mask[ids]
        known -= 1 - mask
    return counts, (known if masked else n)


@HOOKS.register_module()
class ClassFrequencyHook(Hook):
    """Fill losses' class frequencies from the training set before training.

    Every module of the model with a ``set_class_frequencies(class_counts,
    num_samples, classes=..., source=...)`` method (e.g.
    :class:`~ldr_mm.models.losses.DistributionBalancedLoss`) gets the
    positives per class and the size of ``runner.train_dataloader.dataset``
    (with U-Ignore masks: the (C,) known labels per class instead, so a
    masked label counts as neither positive nor negative;
    :func:`dataset_class_frequencies`).
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
        source = (f'training set {type(dataset).__name__} '
                  f'({len(dataset)} samples)')
        for m in todo:
            m.set_class_frequencies(counts, n, classes=classes,
                                    source=source)
        known = '' if np.ndim(n) == 0 else (
            ', known (unmasked) labels per class '
            f'{dict(zip(classes, np.asarray(n).tolist()))}')
        print_log(
            f'ClassFrequencyHook: {source}, positives per class '
            f'{dict(zip(classes, counts.tolist()))}{known} -> '
            f'{", ".join(type(m).__name__ for m in todo)}',
            logger='current')
