"""Query2Label's label-query decoder: one home for the head and the neck.

:class:`Query2LabelDecoder` builds and runs the feature part of
:class:`~ldr_mm.models.heads.Query2LabelHead` (input projection, optional
encoder, decoder, label queries). The head adds the group-wise linear layer;
:class:`Query2LabelNeck` outputs the decoded queries as class-aware features
(B, C, D), so that LDR's stage 2 (:class:`~ldr_mm.models.LDRHead`, the EM
loop) runs on a Query2Label stage 1. Both keep the parameter names on
themselves (``input_proj``, ``encoder``, ``decoder``, ``query_embed``), so a
Query2Label checkpoint's ``head.<x>`` is the neck's ``neck.<x>``.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmpretrain.registry import MODELS

from .ldr_neck import sine_position_encoding
from .tokens import check_extra_tokens, to_feature_map


class Query2LabelDecoder:
    """Mixin of an ``nn.Module``: Query2Label's label queries decoded
    against the image tokens (see :class:`~ldr_mm.models.heads.
    Query2LabelHead` for the model and the arguments)."""

    def _build_decoder(self,
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
                       query_init_std: float = 1.0) -> None:
        """Create the projection, encoder, decoder and label queries (the
        queries uninitialised: :meth:`_reset_queries`)."""
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

    def _check_args(self, num_classes, embed_dims, num_heads, num_layers,
                    num_encoder_layers, pos_encoding, query_init_std) -> None:
        """Refuse settings the decoder cannot be built with."""
        name = type(self).__name__
        if num_classes is None or num_classes < 1:
            raise ValueError(f'{name} needs num_classes >= 1, got '
                             f'{num_classes}')
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by '
                             f'num_heads={num_heads}')
        if num_layers < 1 or num_encoder_layers < 0:
            raise ValueError(f'{name} needs num_layers >= 1 and '
                             f'num_encoder_layers >= 0, got {num_layers} '
                             f'and {num_encoder_layers}')
        if pos_encoding not in ('sine', 'none'):
            raise ValueError(f"pos_encoding must be 'sine' or 'none', got "
                             f'{pos_encoding!r}')
        if query_init_std <= 0:
            raise ValueError(f'query_init_std must be > 0, got '
                             f'{query_init_std}')

    def _reset_queries(self) -> None:
        nn.init.normal_(self.query_embed, std=self.query_init_std)

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

    def decode_queries(self, feats) -> torch.Tensor:
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


@MODELS.register_module()
class Query2LabelNeck(Query2LabelDecoder, BaseModule):
    """Class-aware features of a Query2Label-style model: its decoded label
    queries (:class:`~ldr_mm.models.heads.Query2LabelHead` without the
    group-wise linear layer).

    Query2Label's logit of class c is ``<w_c, h_c> + b_c`` with h_c the
    decoded query c, so this neck with a group-wise linear head
    (:class:`~ldr_mm.models.LDRHead`) holding ``w`` and ``b`` gives exactly
    the Query2Label model's logits, and LDR's stage 2 applies to it
    (:class:`~ldr_mm.models.Query2LabelStage2Classifier`). Parameter names
    are the head's: ``input_proj``, ``encoder``, ``decoder``,
    ``query_embed``.

    Args:
        num_classes (int): C.
        in_channels (int): D_in, channels of the backbone's last output.
        init_cfg (dict, optional): Initialisation config.
        **kwargs: The other decoder settings of
            :class:`~ldr_mm.models.heads.Query2LabelHead` (``embed_dims``,
            ``num_layers``, ``num_encoder_layers``, ``num_heads``,
            ``feedforward_channels``, ``dropout``, ``pos_encoding``,
            ``num_extra_tokens``, ``token_grid``, ``query_init_std``).

    Shapes: input a tuple whose last entry is the backbone map (B, D_in, H,
    W) or tokens (B, N, D_in); output a tuple with (B, C,
    :attr:`out_channels`), ``out_channels = embed_dims``.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 init_cfg: Optional[dict] = None, **kwargs):
        super().__init__(init_cfg=init_cfg)
        self._build_decoder(num_classes, in_channels, **kwargs)
        self.out_channels = self.embed_dims
        self._reset_queries()

    def init_weights(self):
        """Label queries (normal, ``query_init_std``); the Transformer
        layers keep PyTorch's initialisation (unless ``init_cfg`` says
        otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            self._reset_queries()

    def forward(self, inputs) -> Tuple[torch.Tensor]:
        """(B, C, D) decoded label queries of the backbone outputs."""
        return (self.decode_queries(inputs), )
