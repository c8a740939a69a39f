"""``init_cfg=dict(type='Pretrained', checkpoint=...)`` for any weights file.

MMEngine's ``PretrainedInit`` loads MMPretrain checkpoints (keys under a
``prefix`` such as ``backbone``) and downloads URLs with a urllib traceback
when offline. :class:`Pretrained` is registered under the same name in
MMPretrain's ``WEIGHT_INITIALIZERS`` (the scope of every config here:
``default_scope = 'mmpretrain'``), so MMEngine still applies it after all
other initialisers (it looks for the type name ``'Pretrained'``) and
backbones still skip their own post-init (e.g. ResNet's
``zero_init_residual``). It accepts the same arguments and additionally:

- reads torchvision / timm key layouts (:mod:`.layouts`) and
  ``.safetensors`` files (e.g. a Hugging Face Hub timm model);
- picks the layout by the keys the module expects, and refuses a file that
  lacks some of the module's parameters or holds other shapes, naming them;
- on a failed download raises a one-line error naming ``init_cfg`` and the
  local-file alternative (:class:`~.weights_file.WeightsDownloadError`).
"""
import logging
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmpretrain.registry import WEIGHT_INITIALIZERS

from .layouts import layouts_for
from .weights_file import (DOCS, PretrainedWeightsError, read_weights,
                           unwrap_state_dict)

StateDict = Dict[str, torch.Tensor]


def _with_prefix(weights: StateDict, prefix: Optional[str]) -> StateDict:
    """The weights under ``prefix`` (MMPretrain checkpoints), or all."""
    if not prefix:
        return weights
    head = prefix.rstrip('.') + '.'
    inner = {k[len(head):]: v for k, v in weights.items()
             if k.startswith(head)}
    return inner or weights  # no prefix: a bare backbone file


def select_layout(module: torch.nn.Module, weights: StateDict,
                  prefix: Optional[str]) -> Tuple[str, StateDict, list]:
    """The key layout of ``weights`` that covers most of ``module``.

    Args:
        module (nn.Module): The module to initialise.
        weights (dict[str, Tensor]): The file's unwrapped weights.
        prefix (str, optional): MMPretrain's sub-module prefix.

    Returns:
        tuple: ``(layout name, renamed weights, missing parameter names)``.
    """
    params = [name for name, _ in module.named_parameters()]
    candidates = {'MMPretrain': _with_prefix(weights, prefix)}
    for name, convert in layouts_for(module).items():
        candidates[name] = convert(weights)
    best = None
    for name, renamed in candidates.items():
        missing = [p for p in params if p not in renamed]
        if best is None or len(missing) < len(best[2]):
            best = (name, renamed, missing)
    return best


def _load(module: torch.nn.Module, weights: StateDict, where: str) -> list:
    """``module.load_state_dict(strict=False)``; a shape mismatch -> one line.

    Returns:
        list[str]: The keys of ``weights`` the module does not have.
    """
    try:
        result = module.load_state_dict(weights, strict=False)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines()
                 if 'size mismatch' in ln]
        first = lines[0].rstrip('.') if lines else str(e).splitlines()[0]
        raise PretrainedWeightsError(
            f'{where} does not fit: {len(lines)} weights have other shapes '
            f'({first}); is it the same architecture and variant?') from None
    return list(result.unexpected_keys)


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class Pretrained(PretrainedInit):
    """Initialise a module from a weights file in any supported layout.

    Args:
        checkpoint (str): Local file (``.pth`` / ``.pt`` / ``.bin`` /
            ``.safetensors``) or URL.
        prefix (str, optional): Sub-module of an MMPretrain checkpoint to
            load (e.g. ``'backbone'``); ignored for a file without it.
        map_location (str): ``torch.load``'s map location. Defaults to cpu.
        strict (bool): Refuse a file that lacks some of the module's
            parameters. ``False`` loads what the file has and logs the rest
            (MMEngine's behaviour, e.g. for a self-supervised checkpoint
            without the final norm). Defaults to True.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 map_location: str = 'cpu', strict: bool = True):
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.strict = strict

    def __call__(self, module: torch.nn.Module) -> None:
        owner = type(module).__name__
        where = f'The init_cfg checkpoint "{self.checkpoint}" of {owner}'
        weights = unwrap_state_dict(
            read_weights(self.checkpoint, owner, self.map_location))
        layout, renamed, missing = select_layout(module, weights,
                                                 self.prefix)
        total = sum(1 for _ in module.parameters())
        known = [f'MMPretrain with prefix {self.prefix!r}'] + list(
            layouts_for(module))
        if missing and (self.strict or len(missing) == total):
            raise PretrainedWeightsError(
                f'{where} lacks {len(missing)} of its {total} weights in '
                f'every layout it knows ({", ".join(known)}), e.g. '
                f'"{missing[0]}": use weights of the same '
                f'architecture, or strict=False in init_cfg to load the '
                f'rest (see {DOCS}).')
        if missing:
            print_log(
                f'{owner}: {len(missing)} of {total} weights are not in '
                f'{self.checkpoint} and keep their initialisation, e.g. '
                f'{missing[:3]}', logger='current', level=logging.WARNING)
        unused = _load(module, renamed, where)
        print_log(
            f'Loaded {owner} from {self.checkpoint} ({layout} layout; '
            f'{len(unused)} other keys of the file unused)', logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return f'Pretrained: load from {self.checkpoint}'
