"""Shared plumbing of the per-class multi-label metrics."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmpretrain.structures import label_to_onehot

from .label_mask import apply_gt_mask, masked_per_class


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


def aggregate_scores(scores: np.ndarray, targets: np.ndarray,
                     keys: Sequence, how: str = 'max',
                     key_name: str = 'patient_id'):
    """Merge the rows of samples that share a key (e.g. a patient's eyes).

    Args:
        scores (np.ndarray): (N, C) scores.
        targets (np.ndarray): (N, C) 0/1 labels; rows of one key must agree.
        keys (Sequence): (N,) group key of every row.
        how (str): ``'max'`` or ``'mean'`` of the scores.
        key_name (str): Name of the key, for messages.

    Returns:
        tuple: (G, C) scores, (G, C) targets and the (G,) keys, in order of
        first appearance.

    Raises:
        ValueError: Two rows of one key have different labels.
    """
    if how not in ('max', 'mean'):
        raise ValueError(f"aggregate must be 'max' or 'mean', got {how!r}")
    order, index = [], {}
    for k in keys:
        if k not in index:
            index[k] = len(order)
            order.append(k)
    inv = np.fromiter((index[k] for k in keys), dtype=np.int64,
                      count=len(keys))
    G, C = len(order), scores.shape[1]
    agg_t = np.full((G, C), -1, dtype=np.int64)
    agg_t[inv] = targets
    bad = np.flatnonzero((agg_t[inv] != targets).any(1))
    if bad.size:
        k = keys[bad[0]]
        raise ValueError(
            f'Samples with {key_name}={k!r} have different labels; '
            f'aggregating by {key_name} needs one label vector per '
            f'{key_name}')
    if how == 'max':
        agg_s = np.full((G, C), -np.inf)
        np.maximum.at(agg_s, inv, scores)
    else:
        agg_s = np.zeros((G, C))
        np.add.at(agg_s, inv, scores)
        agg_s /= np.bincount(inv, minlength=G)[:, None]
    return agg_s, agg_t, order


class MultiLabelScoreMetric(BaseMetric):
    """Collects (score, multi-hot target) pairs and reports per-class values.

    Subclasses implement :meth:`per_class_values`. Head/tail group means use
    ``head_classes`` / ``tail_classes`` from the dataset metainfo (or the
    arguments). Under DDP, :class:`BaseMetric` gathers the results once on
    rank 0 and drops the sampler's padding duplicates.

    With ``aggregate_by`` (e.g. ``'patient_id'``, packed into the data
    samples by ``PackInputs(meta_keys=...)``), the scores of the samples
    sharing that key are merged (max or mean) into one row before the
    metric: ODIR-5K's per-eye samples are scored per patient.

    Entries masked by a sample's ``gt_mask`` (U-Ignore) are left out of
    that class's value (:mod:`~ldr_mm.evaluation.metrics.label_mask`).

    Args:
        per_class (bool): Also report ``class/<name>`` values.
            Defaults to False.
        head_classes, tail_classes (Sequence[str], optional): Override the
            dataset's groups.
        aggregate_by (str, optional): Data-sample key to group rows by.
            Defaults to None (every sample is a row).
        aggregate (str): ``'max'`` (default) or ``'mean'`` of the scores.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Key prefix; defaults to the metric's own.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 per_class: bool = False,
                 head_classes: Optional[Sequence[str]] = None,
                 tail_classes: Optional[Sequence[str]] = None,
                 aggregate_by: Optional[str] = None,
                 aggregate: str = 'max',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if aggregate not in ('max', 'mean'):
            raise ValueError(f"aggregate must be 'max' or 'mean', got "
                             f'{aggregate!r}')
        self.per_class = per_class
        self._head = head_classes
        self._tail = tail_classes
        self.aggregate_by = aggregate_by
        self.aggregate = aggregate

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            score = sample['pred_score']
            if 'gt_score' in sample:
                target = sample['gt_score']
            else:
                target = label_to_onehot(sample['gt_label'], score.numel())
            result = (score.detach().float().cpu().numpy(),
                      apply_gt_mask(torch.as_tensor(target).cpu().numpy()
                                    .astype(np.int64), sample))
            if self.aggregate_by is not None:
                if self.aggregate_by not in sample:
                    raise ValueError(
                        f'{type(self).__name__}(aggregate_by='
                        f'{self.aggregate_by!r}): the data sample of '
                        f'"{sample.get("img_path", "?")}" has no '
                        f'{self.aggregate_by!r}. Add it to PackInputs('
                        f'meta_keys=...) in the test pipeline, or set '
                        'aggregate_by=None.')
                result += (sample[self.aggregate_by], )
            self.results.append(result)

    def stack(self, results: List[tuple]):
        """(N, C) scores and targets; per group with ``aggregate_by``."""
        scores = np.stack([r[0] for r in results])
        targets = np.stack([r[1] for r in results])
        if self.aggregate_by is not None:
            scores, targets, _ = aggregate_scores(
                scores, targets, [r[2] for r in results], self.aggregate,
                self.aggregate_by)
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
        if (targets < 0).any():  # U-Ignore masks: each class on known rows
            values = masked_per_class(self.per_class_values, scores, targets)
        else:
            values = self.per_class_values(scores, targets)
        return group_summary(
            values, classes, head, tail, metric=type(self).__name__,
            per_class=self.per_class)
