"""Backbone outputs -> the (B, C, H, W) map that :class:`LDRNeck` reads.

The neck accepts the forms today's backbones give:

- maps (B, C, H, W): CNNs (ResNet, DenseNet, ConvNeXt with
  ``gap_before_final_norm=False``), MMPretrain's Swin, MMPretrain's
  VisionTransformer with ``out_type='featmap'``, timm models built with
  ``features_only=True``;
- channels-last maps (B, H, W, C): timm's Swin, with or without
  ``features_only=True`` (e.g. through MMPretrain's ``TIMMBackbone``);
- token sequences (B, N, C): MMPretrain's VisionTransformer with
  ``out_type='raw'``, timm ViTs. The first ``num_extra_tokens`` tokens
  (class / distillation / register tokens) are dropped and the remaining
  ones must form an h x w grid.

``num_extra_tokens='auto'`` takes the count from the backbone when it says
(:func:`backbone_extra_tokens`: MMPretrain's ``num_extra_tokens``, timm's
``num_prefix_tokens``) and otherwise drops the fewest tokens (0, 1 or 2) that
leave a square grid.
"""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn

_HINT = ('Give the neck a spatial map or a token sequence: for '
         "MMPretrain's VisionTransformer set out_type='featmap' (or 'raw'); "
         "for a timm model build it with features_only=True (TIMMBackbone("
         "..., features_only=True, out_indices=(-1, ))); for ConvNeXt set "
         'gap_before_final_norm=False; no global pooling.')


def backbone_extra_tokens(backbone: nn.Module) -> Optional[int]:
    """Leading non-patch tokens a backbone puts in its token output.

    Returns:
        int or None: MMPretrain's ``num_extra_tokens`` (class token), timm's
        ``num_prefix_tokens`` (class, distillation, register tokens; also
        inside MMPretrain's ``TIMMBackbone``), or ``None`` when the backbone
        does not say.
    """
    for module in (backbone, getattr(backbone, 'timm_model', None)):
        for name in ('num_extra_tokens', 'num_prefix_tokens'):
            value = getattr(module, name, None)
            if isinstance(value, int) and value >= 0:
                return value
    return None


def check_extra_tokens(value: Union[int, str]) -> Union[int, str]:
    """``value`` if it is ``'auto'`` or an int >= 0, else ``ValueError``."""
    if value != 'auto' and not (isinstance(value, int) and value >= 0):
        raise ValueError("num_extra_tokens must be 'auto' or an int >= 0, "
                         f'got {value!r}')
    return value


def _grid(n: int) -> Optional[int]:
    side = math.isqrt(n)
    return side if n > 0 and side * side == n else None


def tokens_to_map(x: torch.Tensor,
                  num_extra_tokens: Union[int, str] = 'auto',
                  grid: Optional[Sequence[int]] = None) -> torch.Tensor:
    """(B, N, C) tokens -> (B, C, h, w) map of the patch tokens.

    Args:
        x (Tensor): (B, N, C) token sequence.
        num_extra_tokens (int | str): Leading tokens to drop, or ``'auto'``:
            the fewest of 0, 1, 2 that leave a square number of tokens.
        grid (Sequence[int], optional): (h, w) of a non-square patch grid.

    Returns:
        Tensor: (B, C, h, w).
    """
    b, n, c = x.shape
    if num_extra_tokens == 'auto':
        if grid is not None:
            num_extra_tokens = n - int(grid[0]) * int(grid[1])
        else:
            num_extra_tokens = next(
                (k for k in (0, 1, 2) if _grid(n - k)), None)
        if num_extra_tokens is None or num_extra_tokens < 0:
            raise ValueError(
                f'LDRNeck got {n} tokens, which are not a square grid after '
                'dropping 0, 1 or 2 leading tokens: set '
                'model.neck.num_extra_tokens (and token_grid for a non-square '
                f'image). {_HINT}')
    patches = x[:, int(num_extra_tokens):]
    m = patches.shape[1]
    h, w = (int(grid[0]), int(grid[1])) if grid is not None else (
        _grid(m), _grid(m))
    if h is None or h * w != m:
        raise ValueError(
            f'LDRNeck got {n} tokens; after dropping num_extra_tokens='
            f'{num_extra_tokens} the {m} patch tokens do not form '
            f'{"a square grid" if grid is None else f"a {h}x{w} grid"}. Set '
            f'model.neck.num_extra_tokens / token_grid. {_HINT}')
    return patches.transpose(1, 2).reshape(b, c, h, w)


def to_feature_map(feats, in_channels: int,
                   num_extra_tokens: Union[int, str] = 'auto',
                   grid: Optional[Sequence[int]] = None) -> torch.Tensor:
    """The last backbone output as a (B, C, H, W) map with C = in_channels.

    Args:
        feats (Tensor | Sequence[Tensor]): Backbone outputs; the last is used.
        in_channels (int): The channel count the neck expects.
        num_extra_tokens (int | str): See :func:`tokens_to_map`.
        grid (Sequence[int], optional): See :func:`tokens_to_map`.

    Returns:
        Tensor: (B, in_channels, H, W).
    """
    x = feats if isinstance(feats, torch.Tensor) else feats[-1]
    if x.ndim not in (3, 4):
        raise ValueError(
            f'LDRNeck needs a spatial feature map (B, C, H, W) or tokens (B, '
            f'N, C) from the backbone, got shape {tuple(x.shape)}. {_HINT}')
    if x.ndim == 4 and x.shape[1] != in_channels and \
            x.shape[-1] == in_channels:
        x = x.permute(0, 3, 1, 2)  # channels-last (timm Swin)
    channels = x.shape[1] if x.ndim == 4 else x.shape[-1]
    if channels != in_channels:
        raise ValueError(
            f'The backbone gives {channels} channels but '
            f'neck.in_channels={in_channels}; set '
            f'model.neck.in_channels={channels} in the config (shape '
            f'{tuple(x.shape)}).')
    if x.ndim == 3:
        x = tokens_to_map(x, num_extra_tokens, grid)
    return x
