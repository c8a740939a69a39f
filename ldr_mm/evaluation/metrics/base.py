"""Shared plumbing of the per-class multi-label metrics."""
import math
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmpretrain.structures import label_to_onehot

from ldr_mm.evaluation.groups import head_tail_groups
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

    out = {group: nanmean(cols) for group, cols in head_tail_groups(
        classes, head_classes, tail_classes).items()}
    if per_class:
        for name, v in zip(classes, values):
            out[f'class/{name}'] = float(v)
    return out


#: How the scores of a group's rows merge into one row.
AGGREGATE_RULES = ('max', 'min', 'mean')


def _check_rule(rule, what: str = 'aggregate') -> str:
    if rule not in AGGREGATE_RULES:
        raise ValueError(f'{what} must be one of {AGGREGATE_RULES}, got '
                         f'{rule!r}')
    return rule


def _group_rows(keys: Sequence):
    """(N,) group index of every row and the keys in order of appearance."""
    order, index = [], {}
    for k in keys:
        if k not in index:
            index[k] = len(order)
            order.append(k)
    inv = np.fromiter((index[k] for k in keys), dtype=np.int64,
                      count=len(keys))
    return inv, order


def aggregate_scores(scores: np.ndarray, targets: np.ndarray,
                     keys: Sequence, how: Union[str, Sequence[str]] = 'max',
                     key_name: str = 'patient_id'):
    """Merge the rows of samples that share a key (e.g. a patient's eyes).

    The scores keep their dtype (a float32 score is compared with a
    threshold in float32 afterwards, as without aggregation).

    Args:
        scores (np.ndarray): (N, C) scores.
        targets (np.ndarray): (N, C) 0/1 labels; rows of one key must agree.
        keys (Sequence): (N,) group key of every row.
        how (str | Sequence[str]): ``'max'``, ``'min'`` or ``'mean'`` for
            all columns, or one of them per column (C,). ODIR's ``N``
            (normal) is a patient's only if *every* eye is normal, so it
            takes ``'min'`` while the diseases take ``'max'``.
        key_name (str): Name of the key, for messages.

    Returns:
        tuple: (G, C) scores, (G, C) targets and the (G,) keys, in order of
        first appearance.

    Raises:
        ValueError: Two rows of one key have different labels.
    """
    C = scores.shape[1]
    rules = [how] * C if isinstance(how, str) else list(how)
    if len(rules) != C:
        raise ValueError(f'{len(rules)} aggregation rules for {C} columns')
    for r in rules:
        _check_rule(r)
    inv, order = _group_rows(keys)
    G = len(order)
    agg_t = np.full((G, C), -1, dtype=np.int64)
    agg_t[inv] = targets
    bad = np.flatnonzero((agg_t[inv] != targets).any(1))
    if bad.size:
        k = keys[bad[0]]
        raise ValueError(
            f'Samples with {key_name}={k!r} have different labels; '
            f'aggregating by {key_name} needs one label vector per '
            f'{key_name}')
    dtype = scores.dtype if np.issubdtype(scores.dtype, np.floating) \
        else np.float64
    agg_s = np.empty((G, C), dtype=dtype)
    for rule in set(rules):
        cols = [c for c in range(C) if rules[c] == rule]
        agg_s[:, cols] = _merge(scores[:, cols], inv, G, rule)
    return agg_s, agg_t, order


def _merge(scores: np.ndarray, inv: np.ndarray, G: int, rule: str):
    """(G, K) max / min / mean of the (N, K) rows of each group."""
    if rule == 'mean':
        out = np.zeros((G, scores.shape[1]), dtype=np.float64)
        np.add.at(out, inv, scores)
        return out / np.bincount(inv, minlength=G)[:, None]
    fill = -np.inf if rule == 'max' else np.inf
    out = np.full((G, scores.shape[1]), fill, dtype=scores.dtype)
    (np.maximum if rule == 'max' else np.minimum).at(out, inv, scores)
    return out


def class_rules(classes: Sequence[str], default: str,
                per_class: Optional[Dict[str, str]]) -> List[str]:
    """(C,) aggregation rule of each class: ``per_class`` or ``default``.

    Raises:
        ValueError: ``per_class`` names a class that is not in ``classes``
            or an unknown rule.
    """
    per_class = dict(per_class or {})
    unknown = [c for c in per_class if c not in list(classes)]
    if unknown:
        raise ValueError(f'class_aggregate names {unknown}, which are not '
                         f'among the dataset classes {list(classes)}')
    return [_check_rule(per_class.get(c, default),
                        f'class_aggregate[{c!r}]') for c in classes]


def sample_targets(sample: dict, num_classes: int) -> np.ndarray:
    """(C,) int64 0/1 labels of a data sample (``gt_score`` or
    ``gt_label``).

    Raises:
        ValueError: ``gt_score`` holds values other than 0 and 1 (soft
            labels), naming the sample.
    """
    if 'gt_score' not in sample:
        return label_to_onehot(sample['gt_label'],
                               num_classes).numpy().astype(np.int64)
    target = torch.as_tensor(sample['gt_score']).detach().cpu().numpy()
    soft = ~np.isin(target, (0, 1))
    if soft.any():
        c = int(np.flatnonzero(soft.ravel())[0])
        value = str(target.ravel()[c])
        raise ValueError(
            f'The data sample of "{sample.get("img_path", "?")}" has a soft '
            f'label gt_score[{c}]={value}; the ldr_mm metrics need 0/1 '
            'labels (rounding would change them silently). '
            'Evaluate without batch augments / label mixing, or binarise '
            'the labels in the dataset.')
    return target.astype(np.int64)


def _as_numpy_scores(score: torch.Tensor) -> np.ndarray:
    """(C,) scores as numpy in the precision they were computed in: a
    model's float32 (or half, widened to float32) scores stay float32, so a
    score equal to a threshold in float32 stays on the same side of it; the
    float64 probabilities of a decision file's calibration stay float64, so
    the calibration creates no ties that change AUC / AP."""
    score = score.detach().cpu()
    return (score.double() if score.dtype == torch.float64 else
            score.float()).numpy()


class MultiLabelScoreMetric(BaseMetric):
    """Collects (score, multi-hot target) pairs and reports per-class values.

    Subclasses implement :meth:`per_class_values`. Head/tail group means use
    ``head_classes`` / ``tail_classes`` from the dataset metainfo (or the
    arguments). Under DDP, :class:`BaseMetric` gathers the results once on
    rank 0 and drops the sampler's padding duplicates.

    With ``aggregate_by`` (e.g. ``'patient_id'``, packed into the data
    samples by ``PackInputs(meta_keys=...)``), the scores of the samples
    sharing that key are merged into one row before the metric: ODIR-5K's
    per-eye samples are scored per patient. The rule is per class:
    ``class_aggregate`` (or, when None, the dataset metainfo's
    ``class_aggregate``; ``ODIR5K`` declares ``{'N': 'min'}``: a patient is
    normal only if every eye is), ``aggregate`` for the other classes.

    Labels must be 0/1: a soft ``gt_score`` (e.g. 0.9) is refused naming
    the sample, since AUC, AP and accuracy here are defined for binary
    labels (casting would silently turn 0.9 into 0).

    Entries masked by a sample's ``gt_mask`` (U-Ignore) are left out of
    that class's value (:mod:`~ldr_mm.evaluation.metrics.label_mask`).

    Args:
        per_class (bool): Also report ``class/<name>`` values.
            Defaults to False.
        head_classes, tail_classes (Sequence[str], optional): Override the
            dataset's groups.
        aggregate_by (str, optional): Data-sample key to group rows by.
            Defaults to None (every sample is a row).
        aggregate (str): ``'max'`` (default), ``'min'`` or ``'mean'`` of
            the scores.
        class_aggregate (dict, optional): ``{class name: rule}`` overriding
            ``aggregate`` for those classes; ``{}`` for none. Defaults to
            the dataset metainfo's ``class_aggregate``.
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
                 class_aggregate: Optional[Dict[str, str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.aggregate = _check_rule(aggregate)
        for c, rule in (class_aggregate or {}).items():
            _check_rule(rule, f'class_aggregate[{c!r}]')
        self.class_aggregate = class_aggregate
        self.aggregate_by = aggregate_by
        self.per_class = per_class
        self._head = head_classes
        self._tail = tail_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            score = sample['pred_score']
            result = (_as_numpy_scores(score),
                      apply_gt_mask(sample_targets(sample, score.numel()),
                                    sample))
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
                scores, targets, [r[2] for r in results],
                self.aggregate_rules(scores.shape[1]), self.aggregate_by)
        return scores, targets

    def aggregate_rules(self, num_classes: int) -> List[str]:
        """(C,) rule per class: ``class_aggregate`` or ``aggregate``."""
        classes = self.groups[0]
        if not classes or len(classes) != num_classes:
            classes = [str(i) for i in range(num_classes)]
        per_class = self.class_aggregate
        if per_class is None:
            per_class = (self.dataset_meta or {}).get('class_aggregate')
        return class_rules(classes, self.aggregate, per_class)

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
