"""A Query2Label-style multi-label head (attention-head baseline).

Query2Label (Liu, Zhang, Yang, Su and Zhu, 2021, "Query2Label: A Simple
Transformer Way to Multi-Label Classification"): learnable label queries
attend to the backbone's image tokens through a Transformer decoder, and a
group-wise linear layer gives one logit per class from each query's output.
Written from the paper's description; see :class:`Query2LabelHead` for the
choices the description leaves open.
"""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn

from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS

from ..necks.query2label_neck import Query2LabelDecoder
from .label_mask import MaskedLossMixin


@MODELS.register_module()
class Query2LabelHead(MaskedLossMixin, Query2LabelDecoder,
                      MultiLabelClsHead):
    """Label queries decoded against the image tokens, group-wise linear.

    The backbone map X (B, D_in, H, W) is projected to width D (1x1 conv,
    only if D != D_in) and flattened to image tokens (B, HW, D) with a 2-D
    sine position encoding added (the same encoding as :class:`LDRNeck`).
    Optional Transformer encoder layers run over the image tokens (Query2Label
    calls the encoder optional). C learnable label queries (C, D) then go
    through ``num_layers`` post-norm Transformer decoder layers, each
    self-attention among the queries, cross-attention from the queries to
    the image tokens and an FFN (PyTorch's ``nn.TransformerDecoderLayer``).
    The output of query c, h_c (D), gives class c's logit through the
    group-wise linear layer: ``logit_c = <w_c, h_c> + b_c``.

    Choices the paper's description leaves open (ours): the position
    encoding is added to the image tokens once, before the encoder / decoder,
    so it reaches keys and values (DETR adds it to the keys of every layer);
    the default size is one decoder layer, no encoder layer, FFN width D, so
    the head is about the size of :class:`LDRNeck` with one encoder layer
    (the paper's ResNet-101 model has one encoder and two decoder layers
    with an FFN of 8192).

    The decoder (everything but the group-wise linear layer) is
    :class:`~ldr_mm.models.necks.query2label_neck.Query2LabelDecoder`,
    shared with :class:`~ldr_mm.models.necks.Query2LabelNeck` (LDR's stage 2
    on this head).

    The loss is MMPretrain's multi-label one (summed over classes, averaged
    over samples), as for every other baseline head; entries masked by a
    sample's ``gt_mask`` (U-Ignore) add none (:class:`~ldr_mm.models.heads.
    label_mask.MaskedLossMixin`).

    Args:
        num_classes (int): C.
        in_channels (int): D_in, channels of the backbone's last output.
        embed_dims (int, optional): D. Defaults to ``in_channels``.
        num_layers (int): Decoder layers. Defaults to 1.
        num_encoder_layers (int): Encoder layers over the image tokens.
            Defaults to 0.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int, optional): FFN hidden width. Defaults to
            D.
        dropout (float): Dropout in the Transformer layers. Defaults to 0.1.
        pos_encoding (str): ``'sine'`` or ``'none'`` for the image tokens.
        num_extra_tokens (int | str): For token inputs (B, N, D_in) of
            ViT-style backbones: leading tokens to drop, or ``'auto'``
            (:func:`~ldr_mm.models.necks.tokens.to_feature_map`).
        token_grid (Sequence[int], optional): (h, w) of non-square token
            grids.
        query_init_std (float): Std of the normal init of the label queries.
            Defaults to 1.0 (``nn.Embedding``'s, as in Query2Label).
        loss (dict): Loss config. Defaults to BCE with logits.
        thr (float, optional): Score threshold for ``pred_label``.
        topk (int, optional): Predict the top-k classes instead.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 embed_dims: Optional[int] = None,
                 num_layers: int = 1,
                 num_encoder_layers: int = 0,
                 num_heads: int = 8,
                 feedforward_channels: Optional[int] = None,
                 dropout: float = 0.1,
                 pos_encoding: str = 'sine',
                 num_extra_tokens: Union[int, str] = 'auto',
                 token_grid: Optional[Sequence[int]] = None,
                 query_init_std: float = 1.0,
                 loss: dict = dict(type='CrossEntropyLoss', use_sigmoid=True),
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        self._build_decoder(
            num_classes, in_channels, embed_dims, num_layers,
            num_encoder_layers, num_heads, feedforward_channels, dropout,
            pos_encoding, num_extra_tokens, token_grid, query_init_std)
        # group-wise linear: one weight vector and bias per class
        self.weight = nn.Parameter(
            torch.empty(self.num_classes, self.embed_dims))
        self.bias = nn.Parameter(torch.empty(self.num_classes))
        self._reset()

    def _reset(self) -> None:
        self._reset_queries()
        bound = 1.0 / math.sqrt(self.embed_dims)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def init_weights(self):
        """Queries and group-wise linear; Transformer layers keep PyTorch's
        initialisation (unless ``init_cfg`` says otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            self._reset()

    def pre_logits(self, feats) -> torch.Tensor:
        """Class-aware features: the decoded label queries (B, C, D)
        (:meth:`~ldr_mm.models.necks.query2label_neck.Query2LabelDecoder.
        decode_queries`)."""
        return self.decode_queries(feats)

    def forward(self, feats) -> torch.Tensor:
        """Logits (B, C) of the backbone outputs ``feats``."""
        x = self.pre_logits(feats)
        return (x * self.weight).sum(-1) + self.bias
