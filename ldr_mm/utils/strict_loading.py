"""Load a checkpoint into a model strictly, or say exactly why not.

MMEngine's ``load_checkpoint`` (and so ``cfg.load_from`` and MMPretrain's
``get_model``) loads *non-strictly*: a checkpoint of another model is
half-loaded with a warning that is easy to miss. :func:`load_strict` is the
one strict path of ldr_mm (``tools/test.py``, ``tools/infer.py``, the
inferencer, stage 2's ``model.stage1_checkpoint``): weights-only reading
(:func:`~ldr_mm.utils.safe_load_checkpoint`), every key present in both with
the same shape, optionally the class names recorded in the checkpoint equal
to the expected ones -- all checked before a single weight is copied.
"""
import re
from typing import Dict, List, Optional, Sequence, Type, Union

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper

from .checkpoint import CheckpointMismatchError, safe_load_checkpoint
from .classes import check_same_classes

#: The prefix DDP adds to every key; stripped per key, as MMEngine's
#: ``load_checkpoint(revise_keys=[(r'^module\.', '')])`` does.
_DDP_PREFIX = re.compile(r'^module\.')


def checkpoint_state_dict(ckpt) -> Dict[str, torch.Tensor]:
    """The model weights of an MMEngine checkpoint (or a bare state dict).

    ``module.`` prefixes (a model saved inside DDP) are removed per key.

    Raises:
        CheckpointMismatchError: ``ckpt`` holds no weights, or two keys are
            the same once the prefix is removed.
    """
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        sd = ckpt['state_dict']
    elif isinstance(ckpt, dict) and ckpt and all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        sd = ckpt
    else:
        raise CheckpointMismatchError(
            'The checkpoint holds no model weights (no `state_dict` entry '
            'and not a bare state dict).')
    out = {_DDP_PREFIX.sub('', k): v for k, v in sd.items()}
    if len(out) != len(sd):
        raise CheckpointMismatchError(
            'The checkpoint has keys both with and without the "module." '
            'prefix of DDP; it cannot be loaded unambiguously.')
    return out


def checkpoint_dataset_meta(ckpt) -> dict:
    """``meta.dataset_meta`` of an MMEngine checkpoint, ``{}`` if absent."""
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if isinstance(meta, dict):
        if isinstance(meta.get('dataset_meta'), dict):
            return dict(meta['dataset_meta'])
        if meta.get('CLASSES'):  # mmcls 0.x
            return dict(classes=list(meta['CLASSES']))
    return {}


def _few(items: List[str], limit: int) -> str:
    more = len(items) - limit
    return ', '.join(items[:limit]) + (f' (and {more} more)'
                                       if more > 0 else '')


def compare_state_dicts(model_sd: Dict[str, torch.Tensor],
                        ckpt_sd: Dict[str, torch.Tensor],
                        limit: int = 8) -> List[str]:
    """Human-readable differences between two state dicts (empty: none)."""
    missing = [k for k in model_sd if k not in ckpt_sd]
    unexpected = [k for k in ckpt_sd if k not in model_sd]
    shapes = [f'{k} checkpoint {tuple(ckpt_sd[k].shape)} vs model '
              f'{tuple(model_sd[k].shape)}' for k in model_sd
              if k in ckpt_sd and tuple(ckpt_sd[k].shape) != tuple(
                  model_sd[k].shape)]
    problems = []
    if shapes:
        problems.append(f'{len(shapes)} weight(s) of different shape: '
                        f'{_few(shapes, limit)}')
    if missing:
        problems.append(f'{len(missing)} weight(s) of the model missing from '
                        f'the checkpoint: {_few(missing, limit)}')
    if unexpected:
        problems.append(f'{len(unexpected)} weight(s) in the checkpoint that '
                        f'the model does not have: {_few(unexpected, limit)}')
    return problems


def load_strict(model: nn.Module,
                ckpt_or_state: Union[str, dict],
                what: str = 'Checkpoint',
                hint: str = '',
                classes: Optional[Sequence[str]] = None,
                classes_of: str = 'the dataset',
                error: Type[Exception] = CheckpointMismatchError) -> dict:
    """Load weights into ``model`` only if they fit exactly.

    Args:
        model (nn.Module): The model (a DDP wrapper is unwrapped).
        ckpt_or_state (str | dict): A checkpoint file (read with
            ``weights_only=True``), a loaded MMEngine checkpoint or a bare
            state dict.
        what (str): What the checkpoint is, for messages, e.g.
            ``'The stage-1 checkpoint'``; a file path is appended in quotes.
        hint (str): The fix, appended to every mismatch message.
        classes (Sequence[str], optional): The class names the checkpoint
            must have been trained on, in order. Compared with its
            ``meta.dataset_meta.classes`` when it records them.
        classes_of (str): Where ``classes`` come from, for messages.
        error (type): The exception class of mismatches. Defaults to
            :class:`CheckpointMismatchError`.

    Returns:
        dict: The checkpoint's ``meta`` (``{}`` if it has none).

    Raises:
        FileNotFoundError: The file does not exist.
        ldr_mm.utils.CorruptCheckpointError: The file is empty or truncated.
        ldr_mm.utils.UnsafeCheckpointError: It holds objects outside the
            weights-only allow-list.
        error: Keys, shapes or class names differ. ``model`` is unchanged.
    """
    path = ckpt_or_state if isinstance(ckpt_or_state, str) else None
    name = f'{what} "{path}"' if path else what
    ckpt = safe_load_checkpoint(path) if path else ckpt_or_state
    hint = f'\n{hint}' if hint else ''
    try:
        state = checkpoint_state_dict(ckpt)
    except CheckpointMismatchError as e:
        raise error(f'{name}: {e}{hint}') from None
    if is_model_wrapper(model):
        model = model.module
    problems = compare_state_dicts(model.state_dict(), state)
    if problems:
        raise error(f'{name} does not fit the model:\n  - ' +
                    '\n  - '.join(problems) + hint)
    check_same_classes(classes, checkpoint_dataset_meta(ckpt).get('classes'),
                       f'{name} vs {classes_of}', hint.strip(), error=error)
    model.load_state_dict(state, strict=True)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}
