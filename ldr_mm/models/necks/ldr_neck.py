"""LDRNet stage 1: prompt-query label decoupling (paper Sec. 3.3)."""
import math
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_

from mmpretrain.registry import MODELS

from ldr_mm.prompts import load_prompt_cache
from .tokens import check_extra_tokens, to_feature_map


def sine_position_encoding(height: int, width: int, dims: int,
                           temperature: float = 10000.,
                           device=None,
                           dtype=torch.float32) -> torch.Tensor:
    """2-D sine/cosine position encoding of an ``height x width`` grid.

    Half of the ``dims`` channels encode the row and half the column, each as
    interleaved sines and cosines of geometrically spaced frequencies
    (DETR's encoding, with coordinates normalised to ``(0, 2*pi]``).

    Returns:
        Tensor: (height * width, dims), row-major like ``flatten(2)``.
    """
    if dims % 4 != 0:
        raise ValueError(f'Sine position encoding needs embed_dims divisible '
                         f'by 4, got {dims}')
    npf = dims // 2
    y = torch.arange(1, height + 1, device=device, dtype=torch.float32)
    x = torch.arange(1, width + 1, device=device, dtype=torch.float32)
    y = y / height * 2 * math.pi
    x = x / width * 2 * math.pi
    dim_t = torch.arange(npf, device=device, dtype=torch.float32)
    dim_t = temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') /
                          npf)
    pos_x = x[:, None] / dim_t  # (W, npf)
    pos_y = y[:, None] / dim_t  # (H, npf)
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()),
                        dim=2).flatten(1)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()),
                        dim=2).flatten(1)
    pos = torch.cat([
        pos_y[:, None, :].expand(height, width, npf),
        pos_x[None, :, :].expand(height, width, npf)
    ], dim=2)
    return pos.reshape(height * width, dims).to(dtype)


@MODELS.register_module()
class LDRNeck(BaseModule):
    """Prompt-query label decoupling neck of LDRNet.

    The backbone map X (B, D_in, H, W) is projected to width D (1x1 conv, only
    if D != D_in) and flattened to image tokens X_f (B, HW, D), to which a 2-D
    sine position encoding is added (our choice; the paper does not say).
    The query is built as in Eq. 2::

        Q = [MLP(W) + P_word ; L + P_label] + P_position    (M + C, D)

    with W (M, D') the cached CLIP word embeddings of the prompt
    "The Categories of the image are {l1}, ..., {lC}." (M tokens), L (C, D)
    learnable label embeddings, P_word / P_label (1, D) learnable indicator
    embeddings and P_position (M + C, D) learnable position embeddings. A
    standard (post-norm) Transformer encoder runs over [Q ; X_f] and the
    outputs at the C label positions are the class-aware features (Eq. 5).

    Args:
        in_channels (int): D_in, channels of the backbone's last feature map.
        num_classes (int, optional): C. :class:`LDRClassifier` fills it from
            ``head.num_classes`` when omitted.
        embed_dims (int, optional): D. Defaults to ``in_channels``, the
            paper's choice (no projection).
        prompt_cache (str, optional): The prompt embedding cache made by
            ``tools/misc/extract_prompt_embeddings.py``. Required when
            ``use_prompt=True``.
        use_prompt (bool): ``False`` gives the paper's "no prompt" ablation
            (Table 4): the query is only the label part, ``M = 0``.
            Defaults to True.
        classes (Sequence[str], optional): If given, the prompt cache must
            have been made for these class names.
        num_layers (int): Encoder layers. Defaults to 1: the paper uses "a
            standard Transformer encoder"; one layer keeps the stage-1 step
            time within 1.3x of a plain classifier (benchmarks/bench_stage1.py)
            and Query2Label reports one encoder layer suffices.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int, optional): FFN hidden width. Defaults to
            ``embed_dims`` (see the step-time budget above).
        dropout (float): Dropout in the encoder. Defaults to 0.1.
        word_mlp_hidden (int, optional): Hidden width of the MLP that maps
            CLIP embeddings (D') to D. Defaults to D.
        pos_encoding (str): ``'sine'`` or ``'none'`` for the image tokens.
        num_extra_tokens (int | str): For token inputs (B, N, C) (ViT-style
            backbones): leading class / distillation / register tokens to
            drop. ``'auto'`` (default): the backbone's own count when
            :class:`LDRClassifier` can read it, else the fewest of 0, 1, 2
            that leave a square grid (:mod:`ldr_mm.models.necks.tokens`).
            Maps (B, C, H, W) and channels-last maps (B, H, W, C) ignore it.
        token_grid (Sequence[int], optional): (h, w) patch grid of token
            inputs from non-square images. Defaults to a square grid.
        gap_residual (bool | str): A path from the global average of the
            (projected) image tokens, G (B, D), to the class-aware features.
            Not in the paper; ``False`` (default, paper-faithful): none.
            ``True`` (or ``'add'``): ``x_class[:, c] = encoder_out[:, c] +
            G``, so class c's logit is ``<w_c, encoder_out_c> + <w_c, G> +
            b_c``: one weight vector for both parts. ``'concat'``:
            ``x_class[:, c] = [encoder_out[:, c] ; G]`` of width 2D, so the
            group-wise head learns separate weights for the decoupled and
            the pooled part, ``<u_c, encoder_out_c> + <v_c, G> + b_c``, and
            the model contains the plain GAP + linear classifier exactly.
            The class-aware width is :attr:`out_channels` (D, or 2D with
            ``'concat'``), which :class:`LDRClassifier` gives the head.
            Saved as a buffer (``gap_residual_on``, ``gap_concat_on``), so
            checkpoints of different modes do not load into each other.
        label_init_std (float): Std of the normal init of the label
            embeddings L. Defaults to 1.0 (nn.Embedding's, as in Query2Label).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: Optional[int] = None,
                 embed_dims: Optional[int] = None,
                 prompt_cache: Optional[str] = None,
                 use_prompt: bool = True,
                 classes: Optional[Sequence[str]] = None,
                 num_layers: int = 1,
                 num_heads: int = 8,
                 feedforward_channels: Optional[int] = None,
                 dropout: float = 0.1,
                 word_mlp_hidden: Optional[int] = None,
                 pos_encoding: str = 'sine',
                 num_extra_tokens: Union[int, str] = 'auto',
                 token_grid: Optional[Sequence[int]] = None,
                 gap_residual: Union[bool, str] = False,
                 label_init_std: float = 1.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self._check_args(num_classes, pos_encoding,
                         int(embed_dims or in_channels), num_heads)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.embed_dims = int(embed_dims or in_channels)
        self.use_prompt = use_prompt
        self.prompt_cache = prompt_cache
        self.pos_encoding = pos_encoding
        self.num_extra_tokens = check_extra_tokens(num_extra_tokens)
        self.token_grid = None if token_grid is None else tuple(token_grid)
        if label_init_std <= 0:
            raise ValueError(f'label_init_std must be > 0, got '
                             f'{label_init_std}')
        self.gap_residual = self._check_gap_residual(gap_residual)
        self.label_init_std = float(label_init_std)
        if self.gap_residual:
            # Marks checkpoints: a model with the residual refuses (strict
            # loading) a checkpoint trained without it or with the other
            # mode, and vice versa.
            mode = 'residual' if self.gap_residual == 'add' else 'concat'
            self.register_buffer(f'gap_{mode}_on', torch.ones(()))
        D = self.embed_dims
        #: Width of the class-aware features x_class (the head's D).
        self.out_channels = 2 * D if self.gap_residual == 'concat' else D

        self.input_proj = (
            nn.Conv2d(self.in_channels, D, kernel_size=1)
            if D != self.in_channels else nn.Identity())
        self._build_queries(classes, word_mlp_hidden)

        self.layers = self._build_encoder(
            D, num_layers, num_heads, int(feedforward_channels or D), dropout)
        self._pos_cache = {}

    @staticmethod
    def _build_encoder(embed_dims: int, num_layers: int, num_heads: int,
                       feedforward_channels: int,
                       dropout: float) -> nn.ModuleList:
        """The transformer encoder over [image tokens; queries] (post-norm,
        GELU, batch first)."""
        return nn.ModuleList([
            nn.TransformerEncoderLayer(
                d_model=embed_dims,
                nhead=num_heads,
                dim_feedforward=feedforward_channels,
                dropout=dropout,
                activation='gelu',
                batch_first=True,
                norm_first=False) for _ in range(num_layers)
        ])

    @staticmethod
    def _check_args(num_classes: Optional[int], pos_encoding: str,
                    embed_dims: int, num_heads: int) -> None:
        """Refuse settings the neck cannot be built with."""
        if num_classes is None or num_classes < 1:
            raise ValueError(f'LDRNeck needs num_classes >= 1, got '
                             f'{num_classes}')
        if pos_encoding not in ('sine', 'none'):
            raise ValueError(f"pos_encoding must be 'sine' or 'none', got "
                             f'{pos_encoding!r}')
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible '
                             f'by num_heads={num_heads}')

    @staticmethod
    def _check_gap_residual(value) -> Union[bool, str]:
        """``False``, ``'add'`` (also ``True``) or ``'concat'``."""
        if value is False or value is None:
            return False
        if value is True or value == 'add':
            return 'add'
        if value == 'concat':
            return 'concat'
        raise ValueError(f"gap_residual must be False, True / 'add' or "
                         f"'concat', got {value!r}")

    def _build_queries(self, classes: Optional[Sequence[str]],
                       word_mlp_hidden: Optional[int]) -> None:
        """Prompt queries (from the cache) and label queries, (M + C, D).

        Sets ``word_embeddings`` (M, clip_dims) buffer, ``word_mlp``,
        ``word_indicator`` (1, D) with prompts; ``label_embed`` (C, D),
        ``label_indicator`` (1, D) and ``query_pos`` (M + C, D) always.
        """
        D = self.embed_dims
        self.prompt_classes: Optional[List[str]] = None
        if self.use_prompt:
            if self.prompt_cache is None:
                raise ValueError(
                    'LDRNeck(use_prompt=True) needs `prompt_cache`, the file '
                    'made by tools/misc/extract_prompt_embeddings.py (or set '
                    'use_prompt=False for the no-prompt ablation).')
            cache = load_prompt_cache(
                self.prompt_cache, classes=classes,
                num_classes=self.num_classes)
            self.prompt_classes = list(cache['classes'])
            if cache['pretrained'] is None:
                warnings.warn(
                    f'Prompt cache "{self.prompt_cache}" was made from '
                    'randomly initialised CLIP weights: the prompt carries no '
                    'language semantics. Fine for tests and the demo; for '
                    'real runs pass --weights to '
                    'tools/misc/extract_prompt_embeddings.py.')
            words = cache['embeddings'].float()
            # Saved with the model, so a checkpoint is self-contained.
            self.register_buffer('word_embeddings', words)
            clip_dims = words.shape[1]
            hidden = word_mlp_hidden or D
            self.word_mlp = nn.Sequential(
                nn.Linear(clip_dims, hidden), nn.GELU(),
                nn.Linear(hidden, D))
            self.word_indicator = nn.Parameter(torch.zeros(1, D))
            self.num_prompt_tokens = words.shape[0]
        else:
            self.num_prompt_tokens = 0
        self.label_embed = nn.Parameter(torch.zeros(self.num_classes, D))
        self.label_indicator = nn.Parameter(torch.zeros(1, D))
        self.query_pos = nn.Parameter(
            torch.zeros(self.num_prompt_tokens + self.num_classes, D))

    def init_weights(self):
        """Initialise embeddings; transformer layers keep PyTorch's init."""
        super().init_weights()
        if self.init_cfg is not None and self.init_cfg.get(
                'type') == 'Pretrained':
            return
        nn.init.normal_(self.label_embed, std=self.label_init_std)
        trunc_normal_(self.label_indicator, std=0.02)
        trunc_normal_(self.query_pos, std=0.02)
        if self.use_prompt:
            trunc_normal_(self.word_indicator, std=0.02)

    @property
    def label_slice(self) -> slice:
        """Positions of the C label queries in the encoder sequence."""
        return slice(self.num_prompt_tokens,
                     self.num_prompt_tokens + self.num_classes)

    def build_query(self) -> torch.Tensor:
        """The query embedding Q of Eq. 2.

        Returns:
            Tensor: (M + C, D); M = 0 without prompt.
        """
        label = self.label_embed + self.label_indicator
        if self.use_prompt:
            words = self.word_mlp(self.word_embeddings) + self.word_indicator
            query = torch.cat([words, label], dim=0)
        else:
            query = label
        return query + self.query_pos

    def _image_pos(self, h: int, w: int, ref: torch.Tensor) -> torch.Tensor:
        key = (h, w, ref.device, ref.dtype)
        pos = self._pos_cache.get(key)
        if pos is None:
            pos = sine_position_encoding(
                h, w, self.embed_dims, device=ref.device, dtype=ref.dtype)
            self._pos_cache = {key: pos}  # keep only the latest shape
        return pos

    def _tokens(self, feats, return_pooled: bool = False):
        """[Q ; X_f] for a batch.

        Returns:
            Tensor: tokens (B, M + C + HW, D); with ``return_pooled`` also
            the global average of the image tokens before position
            encoding, G (B, D).
        """
        x = self.input_proj(self.feature_map(feats))
        b, _, h, w = x.shape
        img = x.flatten(2).transpose(1, 2)  # (B, HW, D)
        pooled = img.mean(1)
        if self.pos_encoding == 'sine':
            img = img + self._image_pos(h, w, img)
        query = self.build_query().to(img.dtype)
        tokens = torch.cat([query.unsqueeze(0).expand(b, -1, -1), img], dim=1)
        return (tokens, pooled) if return_pooled else tokens

    def _decouple(self, inputs, need_weights: bool = False):
        """Encoder over [Q ; X_f]: x_class (B, C, D) and attention."""
        x, pooled = self._tokens(inputs, return_pooled=True)
        for layer in self.layers[:-1]:
            x = layer(x)
        x_class, weights = self._last_layer(x, need_weights=need_weights)
        if self.gap_residual == 'add':
            x_class = x_class + pooled.unsqueeze(1)
        elif self.gap_residual == 'concat':
            x_class = torch.cat(
                [x_class, pooled.unsqueeze(1).expand_as(x_class)], dim=-1)
        return x_class, weights

    def feature_map(self, feats) -> torch.Tensor:
        """The backbone's last output as a map (B, D_in, H, W).

        Maps pass through; channels-last maps and token sequences are
        converted (:func:`~ldr_mm.models.necks.tokens.to_feature_map`).
        """
        return to_feature_map(feats, self.in_channels, self.num_extra_tokens,
                              self.token_grid)

    def _last_layer(self, x: torch.Tensor, need_weights: bool = False):
        """The last encoder layer, evaluated at the label positions only.

        Exactly the post-norm ``nn.TransformerEncoderLayer`` output at those
        positions (same modules and parameters): keys and values come from
        every token, but the query projection, attention output, residuals,
        LayerNorms and the FFN are computed for the C label tokens alone,
        since the outputs at the prompt and image positions of the last
        layer are never used. This removes most of the encoder's cost
        (benchmarks/bench_stage1.py).

        Args:
            x (Tensor): (B, M + C + HW, D) input of the last layer.
            need_weights (bool): Also return head-averaged attention weights
                (B, C, M + C + HW).
        """
        layer = self.layers[-1]
        q = x[:, self.label_slice]
        attn, weights = layer.self_attn(
            q, x, x, need_weights=need_weights, average_attn_weights=True)
        h = layer.norm1(q + layer.dropout1(attn))
        ffn = layer.linear2(
            layer.dropout(layer.activation(layer.linear1(h))))
        out = layer.norm2(h + layer.dropout2(ffn))
        return out, weights

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Decouple class-aware features.

        Args:
            inputs (tuple[Tensor]): Backbone outputs; the last one, a map
                (B, D_in, H, W) or tokens (B, N, D_in) (see
                ``num_extra_tokens``), is used.

        Returns:
            tuple[Tensor]: ``(x_class, )`` with x_class of shape
            (B, C, D_out), D_out = :attr:`out_channels` (D, or 2D with
            ``gap_residual='concat'``).
        """
        x_class, _ = self._decouple(inputs)
        return (x_class, )

    @torch.no_grad()
    def forward_attention(
            self, inputs: Tuple[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, Tuple[int, int]]:
        """Class-aware features plus each label query's attention map.

        The attention weights (averaged over heads) of the last encoder layer
        from every label query to the image tokens, renormalised to sum to
        one over the image tokens. For explanations; not used in training.

        Returns:
            tuple: ``x_class`` (B, C, D_out), ``attn`` (B, C, H, W) and the
            feature-map size ``(H, W)``.
        """
        fmap = self.feature_map(inputs)
        h, w = fmap.shape[-2:]
        x_class, weights = self._decouple(fmap, need_weights=True)
        attn = weights[..., self.num_prompt_tokens + self.num_classes:]
        attn = attn / attn.sum(-1, keepdim=True).clamp_min(1e-12)
        return x_class, attn.reshape(attn.shape[0], self.num_classes, h,
                                     w), (h, w)
