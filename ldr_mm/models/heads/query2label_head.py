"""A Query2Label-style multi-label head (attention-head baseline).

Query2Label (Liu, Zhang, Yang, Su and Zhu, 2021, "Query2Label: A Simple
Transformer Way to Multi-Label Classification"): learnable label queries
attend to the backbone's image tokens through a Transformer decoder, and a
group-wise linear layer gives one logit per class from each query's output.
Written from the paper's description; see :class:`Query2LabelHead` for the
choices the description leaves open.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmpretrain.models.heads import MultiLabelClsHead
from mmpretrain.registry import MODELS

from ..necks.ldr_neck import sine_position_encoding
from ..necks.tokens import check_extra_tokens, to_feature_map
from .label_mask import MaskedLossMixin


@MODELS.register_module()
class Query2LabelHead(MaskedLossMixin, MultiLabelClsHead):
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
        D = int(embed_dims or in_channels)
        self._check_args(num_classes, D, num_heads, num_layers,
                         num_encoder_layers, pos_encoding, query_init_std)
        self.num_classes = int(num_classes)
        self.in_channels = int(in_channels)
        self.embed_dims = D
        self.pos_encoding = pos_encoding
        self.num_extra_tokens = check_extra_tokens(num_extra_tokens)
        self.token_grid = None if token_grid is None else tuple(token_grid)
        self.query_init_std = float(query_init_std)
        self.input_proj = (
            nn.Conv2d(self.in_channels, D, kernel_size=1)
            if D != self.in_channels else nn.Identity())
        ffn = int(feedforward_channels or D)
        layer_args = dict(d_model=D, nhead=num_heads, dim_feedforward=ffn,
                          dropout=dropout, activation='gelu',
                          batch_first=True, norm_first=False)
        self.encoder = nn.ModuleList([
            nn.TransformerEncoderLayer(**layer_args)
            for _ in range(num_encoder_layers)
        ])
        self.decoder = nn.ModuleList([
            nn.TransformerDecoderLayer(**layer_args)
            for _ in range(num_layers)
        ])
        self.query_embed = nn.Parameter(torch.empty(self.num_classes, D))
        # group-wise linear: one weight vector and bias per class
        self.weight = nn.Parameter(torch.empty(self.num_classes, D))
        self.bias = nn.Parameter(torch.empty(self.num_classes))
        self._reset()

    @staticmethod
    def _check_args(num_classes, embed_dims, num_heads, num_layers,
                    num_encoder_layers, pos_encoding, query_init_std) -> None:
        """Refuse settings the head cannot be built with."""
        if num_classes is None or num_classes < 1:
            raise ValueError(f'Query2LabelHead needs num_classes >= 1, got '
                             f'{num_classes}')
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        if num_layers < 1 or num_encoder_layers < 0:
            raise ValueError(f'Query2LabelHead needs num_layers >= 1 and '
                             f'num_encoder_layers >= 0, got {num_layers} '
                             f'and {num_encoder_layers}')
        if pos_encoding not in ('sine', 'none'):
            raise ValueError(f"pos_encoding must be 'sine' or 'none', got "
                             f'{pos_encoding!r}')
        if query_init_std <= 0:
            raise ValueError(f'query_init_std must be > 0, got '
                             f'{query_init_std}')

    def _reset(self) -> None:
        nn.init.normal_(self.query_embed, std=self.query_init_std)
        bound = 1.0 / math.sqrt(self.embed_dims)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def init_weights(self):
        """Queries and group-wise linear; Transformer layers keep PyTorch's
        initialisation (unless ``init_cfg`` says otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            self._reset()

    def image_tokens(self, feats) -> torch.Tensor:
        """Projected, position-encoded image tokens.

        Args:
            feats (tuple[Tensor] | Tensor): Backbone outputs; the last one, a
                map (B, D_in, H, W), a channels-last map or tokens
                (B, N, D_in), is used.

        Returns:
            Tensor: (B, HW, D).
        """
        x = to_feature_map(feats, self.in_channels, self.num_extra_tokens,
                           self.token_grid)
        x = self.input_proj(x)
        _, _, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        if self.pos_encoding == 'sine':
            tokens = tokens + sine_position_encoding(
                h, w, self.embed_dims, device=x.device, dtype=x.dtype)
        for layer in self.encoder:
            tokens = layer(tokens)
        return tokens

    def pre_logits(self, feats) -> torch.Tensor:
        """Class-aware features: the decoded label queries.

        Args:
            feats (tuple[Tensor]): Backbone outputs (see
                :meth:`image_tokens`).

        Returns:
            Tensor: (B, C, D).
        """
        memory = self.image_tokens(feats)
        query = self.query_embed.to(memory.dtype)
        out = query.unsqueeze(0).expand(memory.shape[0], -1, -1)
        for layer in self.decoder:
            out = layer(out, memory)
        return out

    def forward(self, feats) -> torch.Tensor:
        """Logits (B, C) of the backbone outputs ``feats``."""
        x = self.pre_logits(feats)
        return (x * self.weight).sum(-1) + self.bias
