"""Key layouts of torchvision / timm weights, renamed to MMPretrain's.

A local weights file of an ImageNet backbone comes in the key layout of the
library that trained it (torchvision or timm here). Each converter turns one
such layout into the state dict of the matching MMPretrain backbone (no
prefix) and drops the file's classifier head (``fc``, ``classifier``,
``head``); tests/test_pretrained_weights.py checks each one by equal
features of the source model and the loaded backbone.

:data:`LAYOUTS` maps an MMPretrain backbone class name to its
``{layout name: converter}``; :class:`ldr_mm.models.weight_init.Pretrained`
tries them when the file's keys are not MMPretrain's. Add a backbone by
adding an entry (a few rename rules, as below).

Rename rules are ``(regex, replacement)`` pairs applied with :func:`re.sub`
to every key, in order; a key whose replacement is ``None`` is dropped.
"""
import re
from typing import Callable, Dict, List, Optional, Tuple

import torch

StateDict = Dict[str, torch.Tensor]
Rules = List[Tuple[str, Optional[str]]]


def rename(state_dict: StateDict, rules: Rules) -> StateDict:
    """Apply rename ``rules`` to every key; drop keys mapped to ``None``.

    Args:
        state_dict (dict[str, Tensor]): The file's weights.
        rules (list[tuple[str, str | None]]): ``(pattern, replacement)``;
            the first pattern that matches a key decides: ``None`` drops the
            key, a string is the :func:`re.sub` replacement.

    Returns:
        dict[str, Tensor]: The renamed weights.
    """
    out = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in rules:
            if re.match(pattern, key):
                new = None if repl is None else re.sub(pattern, repl, key)
                break
        if new is not None:
            out[new] = value
    return out


# ResNet: torchvision and timm already use MMPretrain's names (conv1, bn1,
# layer1.0.conv1, ..., downsample.0/1); only the classifier goes.
RESNET_RULES: Rules = [(r'^fc\.', None)]


def _densenet_stage(match: re.Match) -> str:
    block, layer = int(match.group(1)), int(match.group(2))
    return f'stages.{block - 1}.block.{layer - 1}.'


# DenseNet: torchvision and timm share the `features.*` layout.
DENSENET_RULES: Rules = [
    (r'^classifier\.', None),
    (r'^features\.conv0\.', 'stem.0.'),
    (r'^features\.norm0\.', 'stem.1.'),
    (r'^features\.denseblock(\d+)\.denselayer(\d+)\.', _densenet_stage),
    (r'^features\.transition(\d+)\.',
     lambda m: f'transitions.{int(m.group(1)) - 1}.'),
    (r'^features\.norm5\.', 'transitions.3.0.'),
]



def densenet_from_torchvision(state_dict: StateDict) -> StateDict:
    """torchvision / timm DenseNet -> MMPretrain ``DenseNet``.

    torchvision's own download (``densenet121-a639ec97.pth``) still has the
    pre-0.3 names ``denselayer1.norm.1``; they become ``norm1`` first, as
    torchvision's loader does.
    """
    old = re.compile(r'^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.')
    fixed = {old.sub(r'\1\2.', k): v for k, v in state_dict.items()}
    return rename(fixed, DENSENET_RULES)


# ConvNeXt (timm): stem / per-stage downsample -> downsample_layers, blocks
# -> stages.i.j, mlp -> pointwise convs, head.norm -> the last out norm.
CONVNEXT_TIMM_RULES: Rules = [
    (r'^head\.(fc|global_pool)', None),
    (r'^norm_pre\.', None),
    (r'^stem\.', 'downsample_layers.0.'),
    (r'^stages\.(\d+)\.downsample\.', r'downsample_layers.\1.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.',
     r'stages.\1.\2.depthwise_conv.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.',
     r'stages.\1.\2.pointwise_conv1.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.',
     r'stages.\1.\2.pointwise_conv2.'),
    (r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
    (r'^head\.norm\.', 'norm3.'),
]

# ViT (timm): blocks -> layers, norm1/2 -> ln1/2, mlp -> ffn, final norm ->
# ln1 (MMPretrain's name for the final norm).
VIT_TIMM_RULES: Rules = [
    (r'^(head|fc_norm)\.', None),
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.', r'layers.\1.'),
    (r'^norm\.', 'ln1.'),
]


def _squeeze_pointwise(state_dict: StateDict) -> StateDict:
    """timm's 1 x 1 conv MLPs (O, I, 1, 1) -> MMPretrain's linear (O, I)."""
    return {
        k: v.flatten(1) if 'pointwise_conv' in k and v.dim() == 4 else v
        for k, v in state_dict.items()
    }


def convnext_from_timm(state_dict: StateDict) -> StateDict:
    """timm ConvNeXt -> MMPretrain ``ConvNeXt`` (``linear_pw_conv=True``)."""
    return _squeeze_pointwise(rename(state_dict, CONVNEXT_TIMM_RULES))


def _unfold_order(weight: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """Patch-merging weights from concat order to :class:`nn.Unfold` order.

    timm (as the official Swin) concatenates the four 2 x 2 neighbours as
    (h, w) = (0, 0), (1, 0), (0, 1), (1, 1), channel-minor; MMPretrain's
    ``PatchMerging`` unfolds them channel-major in (0, 0), (0, 1), (1, 0),
    (1, 1) order.
    """
    if channel_dim == 1:  # reduction (O, 4C)
        out = weight.shape[0]
        w = weight.reshape(out, 4, -1)[:, [0, 2, 1, 3], :]
        return w.transpose(1, 2).reshape(out, -1)
    w = weight.reshape(4, -1)[[0, 2, 1, 3], :]  # norm (4C, )
    return w.transpose(0, 1).reshape(-1)


def swin_from_timm(state_dict: StateDict) -> StateDict:
    """timm Swin -> MMPretrain ``SwinTransformer``.

    timm >= 0.9 puts patch merging at the start of stage i (i >= 1),
    MMPretrain (and older timm) at the end of stage i - 1.
    """
    shift = 0 if 'layers.0.downsample.reduction.weight' in state_dict else 1
    stages = [int(m.group(1)) for m in map(
        re.compile(r'^layers\.(\d+)\.').match, state_dict) if m]
    if not stages:  # not a timm Swin
        return {}
    num_stages = 1 + max(stages)
    rules: Rules = [
        (r'^head\.', None),
        (r'.*(relative_position_index|attn_mask)$', None),
        (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
        (r'^layers\.(\d+)\.downsample\.',
         lambda m: f'stages.{int(m.group(1)) - shift}.downsample.'),
        (r'^layers\.(\d+)\.blocks\.(\d+)\.attn\.',
         r'stages.\1.blocks.\2.attn.w_msa.'),
        (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.',
         r'stages.\1.blocks.\2.ffn.layers.0.0.'),
        (r'^layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.',
         r'stages.\1.blocks.\2.ffn.layers.1.'),
        (r'^layers\.', 'stages.'),
        (r'^norm\.', f'norm{num_stages - 1}.'),
    ]
    return _reorder_merging(rename(state_dict, rules))


def _reorder_merging(state_dict: StateDict) -> StateDict:
    """Patch-merging weights of a Swin state dict in MMPretrain's order."""
    for key in list(state_dict):
        if '.downsample.reduction.' in key:
            state_dict[key] = _unfold_order(state_dict[key], 1)
        elif '.downsample.norm.' in key:
            state_dict[key] = _unfold_order(state_dict[key], 0)
    return state_dict


def convnext_from_torchvision(state_dict: StateDict) -> StateDict:
    """torchvision ConvNeXt -> MMPretrain ``ConvNeXt``.

    ``features.0`` is the stem, odd ``features`` the stages (``block.0`` dw
    conv, ``.2`` norm, ``.3`` / ``.5`` the MLP, ``layer_scale`` (C, 1, 1)),
    even ones (>= 2) the downsampling layers; ``classifier.0`` the final
    norm.
    """
    rules: Rules = [
        (r'^classifier\.[12]\.', None),
        (r'^classifier\.0\.', 'norm3.'),
        (r'^features\.0\.', 'downsample_layers.0.'),
        (r'^features\.(\d*[02468])\.', lambda m:
         f'downsample_layers.{int(m.group(1)) // 2}.'),
        (r'^features\.(\d+)\.(\d+)\.block\.0\.',
         lambda m: f'stages.{int(m.group(1)) // 2}.{m.group(2)}.'
         'depthwise_conv.'),
        (r'^features\.(\d+)\.(\d+)\.block\.2\.',
         lambda m: f'stages.{int(m.group(1)) // 2}.{m.group(2)}.norm.'),
        (r'^features\.(\d+)\.(\d+)\.block\.3\.',
         lambda m: f'stages.{int(m.group(1)) // 2}.{m.group(2)}.'
         'pointwise_conv1.'),
        (r'^features\.(\d+)\.(\d+)\.block\.5\.',
         lambda m: f'stages.{int(m.group(1)) // 2}.{m.group(2)}.'
         'pointwise_conv2.'),
        (r'^features\.(\d+)\.(\d+)\.layer_scale$',
         lambda m: f'stages.{int(m.group(1)) // 2}.{m.group(2)}.gamma'),
    ]
    out = rename(state_dict, rules)
    return {k: v.flatten() if k.endswith('.gamma') else v
            for k, v in out.items()}


def swin_from_torchvision(state_dict: StateDict) -> StateDict:
    """torchvision Swin (``swin_t``) -> MMPretrain ``SwinTransformer``.

    ``features.0`` is the patch embedding (conv, permute, norm), odd
    ``features`` the stages, even ones (>= 2) patch merging after the
    previous stage (concat order, as timm).
    """
    def block(name):
        return lambda m: (f'stages.{int(m.group(1)) // 2}.blocks.'
                          f'{m.group(2)}.{name}')

    rules: Rules = [
        (r'^head\.', None),
        (r'.*relative_position_index$', None),
        (r'^features\.0\.0\.', 'patch_embed.projection.'),
        (r'^features\.0\.2\.', 'patch_embed.norm.'),
        (r'^features\.(\d*[02468])\.',
         lambda m: f'stages.{int(m.group(1)) // 2 - 1}.downsample.'),
        (r'^features\.(\d+)\.(\d+)\.attn\.', block('attn.w_msa.')),
        (r'^features\.(\d+)\.(\d+)\.mlp\.0\.', block('ffn.layers.0.0.')),
        (r'^features\.(\d+)\.(\d+)\.mlp\.3\.', block('ffn.layers.1.')),
        (r'^features\.(\d+)\.(\d+)\.', block('')),
        (r'^norm\.', 'norm3.'),
    ]
    out = rename(state_dict, rules)
    return _reorder_merging(out)


# ViT (torchvision): encoder_layer_i -> layers.i, MultiheadAttention's
# in_proj / out_proj -> qkv / proj (same packing: q, k, v rows).
VIT_TORCHVISION_RULES: Rules = [
    (r'^heads\.', None),
    (r'^class_token$', 'cls_token'),
    (r'^conv_proj\.', 'patch_embed.projection.'),
    (r'^encoder\.pos_embedding$', 'pos_embed'),
    (r'^encoder\.ln\.', 'ln1.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.ln_1\.', r'layers.\1.ln1.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.ln_2\.', r'layers.\1.ln2.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_',
     r'layers.\1.attn.qkv.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.self_attention\.out_proj\.',
     r'layers.\1.attn.proj.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(0|linear_1)\.',
     r'layers.\1.ffn.layers.0.0.'),
    (r'^encoder\.layers\.encoder_layer_(\d+)\.mlp\.(3|linear_2)\.',
     r'layers.\1.ffn.layers.1.'),
]


def _rules(rules: Rules) -> Callable[[StateDict], StateDict]:
    return lambda state_dict: rename(state_dict, rules)


# MMPretrain backbone class -> {layout: converter}. A file in MMPretrain's
# own layout needs none (its keys are the module's, after the prefix).
LAYOUTS: Dict[str, Dict[str, Callable[[StateDict], StateDict]]] = {
    'ResNet': {'torchvision / timm': _rules(RESNET_RULES)},
    'DenseNet': {'torchvision / timm': densenet_from_torchvision},
    'ConvNeXt': {'timm': convnext_from_timm,
                 'torchvision': convnext_from_torchvision},
    'SwinTransformer': {'timm': swin_from_timm,
                        'torchvision': swin_from_torchvision},
    'VisionTransformer': {'timm': _rules(VIT_TIMM_RULES),
                          'torchvision': _rules(VIT_TORCHVISION_RULES)},
}


def layouts_for(module: torch.nn.Module) -> Dict[str, Callable]:
    """The known file layouts of ``module``'s class (or a parent class)."""
    for cls in type(module).__mro__:
        if cls.__name__ in LAYOUTS:
            return LAYOUTS[cls.__name__]
    return {}
