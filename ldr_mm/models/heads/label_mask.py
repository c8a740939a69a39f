"""Per-label masks (U-Ignore's ``gt_mask``) in the multi-label losses.

A data sample may carry ``gt_mask`` (C,): 1 where the label is known, 0
where it is uncertain and must add no loss (see
:mod:`ldr_mm.datasets.uncertain`). The loss is computed element-wise
(``reduction_override='none'``, which every MMPretrain and ldr_mm
multi-label loss supports), multiplied by the mask and divided by the
head's own normaliser, so a batch without masks gives exactly the unmasked
loss.
"""
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn

from mmpretrain.structures import DataSample, label_to_onehot


def gt_mask_of(data_samples: List[DataSample], num_classes: int,
               device=None) -> Optional[torch.Tensor]:
    """(B, C) float mask of a batch, or None when no sample has one.

    Samples without ``gt_mask`` in a batch where others have one count as
    fully known.

    Raises:
        ValueError: A mask that is not (C,) 0/1.
    """
    if not any('gt_mask' in s for s in data_samples):
        return None
    rows = []
    for s in data_samples:
        if 'gt_mask' not in s:
            rows.append(np.ones(num_classes, dtype=np.float32))
            continue
        m = np.asarray(torch.as_tensor(s.gt_mask).cpu(), dtype=np.float32)
        if m.shape != (num_classes, ) or not np.isin(m, (0, 1)).all():
            raise ValueError(
                f'gt_mask of "{s.get("img_path", "?")}" must be '
                f'({num_classes},) 0/1 (1 = known label), got shape '
                f'{m.shape}')
        rows.append(m)
    return torch.as_tensor(np.stack(rows), device=device)


def masked_loss(loss_module: nn.Module, logits: torch.Tensor,
                target: torch.Tensor, mask: torch.Tensor,
                avg_factor: Optional[float] = None,
                **kwargs) -> torch.Tensor:
    """Sum of the element-wise loss over unmasked entries / ``avg_factor``.

    Masked entries' targets are set to 0 before the loss, so a label under
    the mask reaches no known entry either (the DB loss weighs each entry
    by the sample's whole label set; the U-Ignore datasets already store
    an uncertain label as 0, a JSON ``gt_label`` may name a masked class).

    Args:
        loss_module (nn.Module): A multi-label loss accepting
            ``reduction_override='none'`` and returning (N, C).
        logits, target, mask (Tensor): (N, C).
        avg_factor (float, optional): The normaliser; defaults to the
            number of unmasked entries (at least 1).
        **kwargs: Passed to the loss.
    """
    target = target * mask.to(target.dtype)
    try:
        loss = loss_module(logits, target, reduction_override='none',
                           **kwargs)
    except ValueError as e:
        raise ValueError(
            f'{type(loss_module).__name__} cannot give an element-wise loss, '
            f"which U-Ignore masks (gt_mask) need: {e}. Use uncertain='ones' "
            "or 'zeros', or an element-wise loss.") from e
    if loss.shape != logits.shape:
        raise ValueError(
            f'{type(loss_module).__name__} returned shape {tuple(loss.shape)}'
            f" with reduction_override='none'; U-Ignore masks need the "
            f'element-wise loss {tuple(logits.shape)}')
    mask = mask.to(loss.dtype)
    if avg_factor is None:
        avg_factor = mask.sum().clamp_min(1.0)
    return (loss * mask).sum() / avg_factor


class MaskedLossMixin:
    """``_get_loss`` of an MMPretrain multi-label head, honouring ``gt_mask``.

    Put it before a subclass of MMPretrain's ``MultiLabelClsHead`` (whose
    ``_get_loss(cls_score, data_samples)`` takes logits (B, C)): a batch
    with masks gets :func:`masked_loss` with MMPretrain's normaliser (the
    batch size), so masked entries add no loss and no gradient; a batch
    without masks gets the parent's loss unchanged. Nothing else of the
    head (parameters, forward, predictions) changes.
    """

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        num_classes = cls_score.size(-1)
        mask = gt_mask_of(data_samples, num_classes, cls_score.device)
        if mask is None:
            return super()._get_loss(cls_score, data_samples, **kwargs)
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score.float() for s in data_samples])
        else:
            target = torch.stack([
                label_to_onehot(s.gt_label, num_classes)
                for s in data_samples
            ]).float()
        target = target.to(cls_score.device)
        return dict(loss=masked_loss(self.loss_module, cls_score, target,
                                     mask, avg_factor=cls_score.size(0),
                                     **kwargs))
