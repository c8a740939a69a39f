"""Shared plumbing of the per-class multi-label metrics."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmpretrain.structures import label_to_onehot


def group_summary(values: np.ndarray,
                  classes: Optional[Sequence[str]],
                  head_classes: Optional[Sequence[str]] = None,
                  tail_classes: Optional[Sequence[str]] = None,
                  metric: str = 'metric',
                  per_class: bool = False,
                  logger=None) -> Dict[str, float]:
    """Mean, head-mean and tail-mean of per-class values.

    NaN entries (classes missing from the evaluated set) are left out of
    every mean and reported once in a warning naming them. A group whose
    classes are all missing gives NaN.

    Args:
        values (np.ndarray): (C,) per-class values, NaN for missing.
        classes (Sequence[str], optional): Class names (C,).
        head_classes, tail_classes (Sequence[str], optional): Names of the
            head / tail classes (from the dataset metainfo).
        metric (str): Name used in messages.
        per_class (bool): Also return ``'class/<name>'`` entries.

    Returns:
        dict: ``mean`` and, when groups are known, ``head`` and ``tail``.
    """
    values = np.asarray(values, dtype=np.float64)
    C = values.shape[0]
    if classes is None or len(classes) != C:
        classes = [str(i) for i in range(C)]
    classes = list(classes)
    missing = [classes[i] for i in np.flatnonzero(np.isnan(values))]
    if missing:
        (logger or MMLogger.get_current_instance()).warning(
            f'{metric}: class(es) {missing} have only one label value in the '
            'evaluated set; reported as missing (NaN) and left out of the '
            'means.')

    def nanmean(sel):
        v = values[sel]
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else math.nan

    out = {'mean': nanmean(np.arange(C))}
    for group, names in (('head', head_classes), ('tail', tail_classes)):
        if names:
            unknown = [n for n in names if n not in classes]
            if unknown:
                raise ValueError(f'{group}_classes {unknown} are not among '
                                 f'the dataset classes {classes}')
            out[group] = nanmean([classes.index(n) for n in names])
    if per_class:
        for name, v in zip(classes, values):
            out[f'class/{name}'] = float(v)
    return out


class MultiLabelScoreMetric(BaseMetric):
    """Collects (score, multi-hot target) pairs and reports per-class values.

    Subclasses implement :meth:`per_class_values`. Head/tail group means use
    ``head_classes`` / ``tail_classes`` from the dataset metainfo (or the
    arguments). Under DDP, :class:`BaseMetric` gathers the results once on
    rank 0 and drops the sampler's padding duplicates.

    Args:
        per_class (bool): Also report ``class/<name>`` values.
            Defaults to False.
        head_classes, tail_classes (Sequence[str], optional): Override the
            dataset's groups.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Key prefix; defaults to the metric's own.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 per_class: bool = False,
                 head_classes: Optional[Sequence[str]] = None,
                 tail_classes: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.per_class = per_class
        self._head = head_classes
        self._tail = tail_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            score = sample['pred_score']
            if 'gt_score' in sample:
                target = sample['gt_score']
            else:
                target = label_to_onehot(sample['gt_label'], score.numel())
            self.results.append(
                (score.detach().float().cpu().numpy(),
                 torch.as_tensor(target).cpu().numpy().astype(np.int64)))

    @staticmethod
    def stack(results: List[tuple]):
        scores = np.stack([r[0] for r in results])
        targets = np.stack([r[1] for r in results])
        return scores, targets

    def per_class_values(self, scores: np.ndarray,
                         targets: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def groups(self):
        meta = self.dataset_meta or {}
        return (meta.get('classes'), self._head or meta.get('head_classes'),
                self._tail or meta.get('tail_classes'))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        scores, targets = self.stack(results)
        classes, head, tail = self.groups
        values = self.per_class_values(scores, targets)
        return group_summary(
            values, classes, head, tail, metric=type(self).__name__,
            per_class=self.per_class)
