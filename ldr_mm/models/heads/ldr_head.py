"""Group-wise linear multi-label head of LDRNet (f_cls, Eq. 6)."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample, label_to_onehot

from .label_mask import gt_mask_of, masked_loss


@MODELS.register_module()
class LDRHead(MultiLabelClsHead):
    """One weight vector and bias per class on class-aware features.

    ``logit_c = <w_c, x_c> + b_c`` for x (B, C, D): class c's logit sees only
    class c's feature (Query2Label's GroupWiseLinear), which is what makes
    stage 2's per-class Gaussian sampling exact.

    The loss is averaged over samples *and* classes, as in the paper's
    Eq. 7 (MMPretrain's multi-label heads divide the class-summed loss by
    the batch size only). Entries masked by a sample's ``gt_mask``
    (U-Ignore, :mod:`ldr_mm.datasets.uncertain`) add no loss; the mean is
    then over the unmasked entries.

    Args:
        num_classes (int): C.
        in_channels (int, optional): D. :class:`LDRClassifier` fills it from
            the neck's ``embed_dims`` when omitted.
        loss (dict): Loss config. Defaults to BCE with logits
            (``CrossEntropyLoss(use_sigmoid=True)``), the stage-1 loss.
        thr (float | Sequence[float], optional): Score threshold(s) for
            ``pred_label``: one for all classes or one per class. Defaults to
            0.5 when ``topk`` is None too.
        topk (int, optional): Predict the top-k classes instead.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Optional[int] = None,
                 loss: dict = dict(type='CrossEntropyLoss', use_sigmoid=True),
                 thr: Optional[Union[float, Sequence[float]]] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        if in_channels is None:
            raise ValueError('LDRHead needs in_channels (the neck width); '
                             'use it inside LDRClassifier, which fills it.')
        super().__init__(loss=loss, thr=None, topk=topk, init_cfg=init_cfg)
        if thr is None and topk is None:
            thr = 0.5
        if thr is not None and not isinstance(thr, (int, float)):
            thr = [float(t) for t in thr]
            if len(thr) != num_classes:
                raise ValueError(f'{len(thr)} thresholds for {num_classes} '
                                 'classes')
        self.thr = thr
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.weight = nn.Parameter(
            torch.empty(self.num_classes, self.in_channels))
        self.bias = nn.Parameter(torch.empty(self.num_classes))
        self._reset()

    def _reset(self):
        bound = 1.0 / math.sqrt(self.in_channels)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is None:
            self._reset()

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Class-aware features (B, C, D) from the neck's output tuple."""
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if x.ndim != 3 or x.shape[1:] != (self.num_classes, self.in_channels):
            raise ValueError(
                f'LDRHead expects class-aware features (B, {self.num_classes}'
                f', {self.in_channels}), got {tuple(x.shape)}')
        return x

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of class-aware features x (..., C, D) -> (..., C)."""
        return (x * self.weight).sum(-1) + self.bias

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Logits (B, C)."""
        return self.classify(self.pre_logits(feats))

    def targets(self, data_samples: List[DataSample],
                device=None) -> torch.Tensor:
        """Multi-hot targets (B, C) from the data samples."""
        if 'gt_score' in data_samples[0]:
            target = torch.stack([s.gt_score.float() for s in data_samples])
        else:
            target = torch.stack([
                label_to_onehot(s.gt_label, self.num_classes)
                for s in data_samples
            ]).float()
        return target.to(device) if device is not None else target

    def loss_by_logits(self, logits: torch.Tensor, target: torch.Tensor,
                       **kwargs) -> torch.Tensor:
        """Mean loss over all N x C entries (paper Eq. 7)."""
        return self.loss_module(
            logits, target, avg_factor=logits.numel(), **kwargs)

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample], **kwargs) -> dict:
        target = self.targets(data_samples, cls_score.device)
        mask = gt_mask_of(data_samples, self.num_classes, cls_score.device)
        if mask is not None:
            return dict(loss=masked_loss(self.loss_module, cls_score, target,
                                         mask, **kwargs))
        return dict(loss=self.loss_by_logits(cls_score, target, **kwargs))

    def _get_predictions(self, cls_score: torch.Tensor,
                         data_samples: Optional[List[DataSample]]):
        """Sigmoid scores and thresholded (per class if given) labels."""
        pred_scores = torch.sigmoid(cls_score)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(cls_score.size(0))]
        if self.thr is not None:
            thr = torch.as_tensor(
                self.thr, dtype=pred_scores.dtype, device=pred_scores.device)
            positive = pred_scores >= thr
        for i, (data_sample, score) in enumerate(zip(data_samples,
                                                     pred_scores)):
            if self.thr is not None:
                label = torch.where(positive[i])[0]
            else:
                _, label = score.topk(self.topk)
            data_sample.set_pred_score(score).set_pred_label(label)
        return data_samples
