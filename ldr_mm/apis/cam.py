"""Class activation maps (CAM) of the baseline models, to compare with the
label-query attention maps of LDRNet.

A baseline (``configs/baselines``: backbone -> ``GlobalAveragePooling`` ->
a linear head such as ``MultiLabelLinearClsHead``) scores class c as
``logit_c = mean_hw(M_c) + b_c`` with the CAM (Zhou et al., CVPR 2016)::

    M_c(h, w) = sum_k W[c, k] * F_k(h, w)        F: the backbone's last map

so M_c says where the evidence for class c lies. For display beside the
attention maps (non-negative, summing to one over the h x w tokens), the
positive part of M_c is normalised the same way; a class without positive
evidence anywhere gets an all-zero map.
"""
from typing import Sequence

import torch
import torch.nn as nn


def _head_linear(model) -> nn.Linear:
    fc = getattr(getattr(model, 'head', None), 'fc', None)
    return fc if isinstance(fc, nn.Linear) else None


def supports_cam(model) -> bool:
    """Whether ``model`` is backbone + global average pooling + linear head."""
    from mmpretrain.models.necks import GlobalAveragePooling
    return isinstance(getattr(model, 'neck', None),
                      GlobalAveragePooling) and _head_linear(model) is not None


def class_activation_maps(model, feats: Sequence[torch.Tensor],
                          normalize: bool = True) -> torch.Tensor:
    """CAMs of every class from the backbone outputs.

    Args:
        model: An ``ImageClassifier`` with a ``GlobalAveragePooling`` neck and
            a head whose ``fc`` is an ``nn.Linear`` (:func:`supports_cam`).
        feats (Sequence[Tensor]): The backbone outputs; the last one, the map
            (B, K, h, w) that the neck pools, is used.
        normalize (bool): Return the positive part normalised to sum to one
            over h x w (default, comparable with the attention maps); False
            gives the raw M_c, whose spatial mean plus the bias is the logit.

    Returns:
        Tensor: (B, C, h, w).
    """
    if not supports_cam(model):
        raise ValueError(
            f'CAMs need backbone -> GlobalAveragePooling -> a linear head '
            f'(head.fc); this model has neck {type(model.neck).__name__} and '
            f'head {type(model.head).__name__}. LDRNet models give label-'
            'query attention maps instead.')
    x = feats if isinstance(feats, torch.Tensor) else feats[-1]
    if x.ndim != 4:
        raise ValueError(f'CAMs need a (B, K, h, w) backbone map, got shape '
                         f'{tuple(x.shape)}')
    fc = _head_linear(model)
    cam = torch.einsum('ck,bkhw->bchw', fc.weight.to(x.dtype), x)
    if not normalize:
        return cam
    pos = cam.clamp_min(0)
    total = pos.sum((-2, -1), keepdim=True)
    return torch.where(total > 0, pos / total.clamp_min(1e-12),
                       torch.zeros_like(pos))
