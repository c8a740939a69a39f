"""Build a model from a config and load a checkpoint strictly and safely.

MMPretrain's :func:`~mmpretrain.apis.get_model` loads weights with
MMEngine's ``load_checkpoint``, which is *non-strict*: a checkpoint from
another config is half-loaded with a warning that is easy to miss, and
inference then runs on partly random weights. Here the checkpoint is
loaded by :func:`ldr_mm.utils.load_strict` (weights-only reading, every key
and shape compared with the model built from the config, its class names
``meta.dataset_meta.classes`` with the classes the config names); any
difference is refused with a message that names it.

A checkpoint of an :class:`~ldr_mm.models.LDRNeck` model carries its prompt
embeddings (the ``neck.word_embeddings`` buffer), so inference does not need
the prompt cache file the config names: when that file is missing, the neck is
built from the checkpoint's own embeddings (see :func:`init_multilabel_model`).
"""
import copy
import os.path as osp
import tempfile
import warnings
from typing import List, Optional, Tuple, Union

import torch
from mmengine.config import Config

from ldr_mm.utils import (CheckpointMismatchError, check_same_classes,
                          checkpoint_dataset_meta, checkpoint_state_dict,
                          config_classes, load_strict, safe_load_checkpoint)

ConfigType = Union[str, Config]


def _as_config(config: ConfigType) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config "{config}" does not exist')
        return Config.fromfile(config)
    raise TypeError(f'config must be a path or a Config, got {type(config)}')


def _neck_cfg(cfg: Config) -> Optional[dict]:
    neck = cfg.model.get('neck') if cfg.get('model') else None
    return neck if isinstance(neck, dict) else None


def _prompt_cache_stand_in(cfg: Config, ckpt_sd: dict, classes, tmpdir: str,
                           checkpoint: str) -> bool:
    """Point a missing ``neck.prompt_cache`` at the checkpoint's embeddings.

    Returns True if the config was changed.
    """
    neck = _neck_cfg(cfg)
    if not neck or not neck.get('use_prompt', True):
        return False
    path = neck.get('prompt_cache')
    if path is None or osp.isfile(path):
        return False
    words = ckpt_sd.get('neck.word_embeddings')
    if words is None or words.ndim != 2:
        return False  # the neck raises its own "make the cache" error
    if classes is None:
        raise CheckpointMismatchError(
            f'The prompt cache "{path}" named by the config is missing and '
            f'the checkpoint "{checkpoint}" does not record its class names '
            '(meta.dataset_meta.classes), so the neck cannot be rebuilt from '
            'the checkpoint alone. Make the cache with tools/misc/extract_prompt_embeddings.py (docs/prompts.md).')
    from ldr_mm.prompts import (DEFAULT_TEMPLATE, build_prompt,
                                default_prompt_names, save_prompt_cache)
    names = default_prompt_names(classes)
    stand_in = osp.join(tmpdir, 'prompt_from_checkpoint.pth')
    save_prompt_cache(
        stand_in, classes=list(classes), prompt_names=names,
        template=DEFAULT_TEMPLATE, prompt=build_prompt(names),
        model='from-checkpoint', pretrained='from-checkpoint',
        embedding_type='token', tokens=torch.arange(words.shape[0]),
        embeddings=words.float())
    neck['prompt_cache'] = stand_in
    return True


def _read_checkpoint(checkpoint: Optional[str]) -> tuple:
    """(checkpoint, its state dict, its dataset_meta); Nones without one."""
    if checkpoint is None:
        warnings.warn('No checkpoint given: the model keeps its random '
                      'initialisation; its scores mean nothing.')
        return None, None, {}
    ckpt = safe_load_checkpoint(checkpoint, map_location='cpu')
    try:
        ckpt_sd = checkpoint_state_dict(ckpt)
    except CheckpointMismatchError as e:
        raise CheckpointMismatchError(f'"{checkpoint}": {e}') from None
    return ckpt, ckpt_sd, checkpoint_dataset_meta(ckpt)


def _check_model_classes(model, classes, where: str) -> None:
    """The prompt cache and the head agree with the class list."""
    prompt_classes = getattr(getattr(model, 'neck', None), 'prompt_classes',
                             None)
    check_same_classes(classes, prompt_classes,
                       f'the prompt cache of {where} vs the checkpoint/config',
                       error=CheckpointMismatchError)
    num_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
    if classes is not None and num_classes is not None and \
            len(classes) != num_classes:
        raise CheckpointMismatchError(
            f'The model has num_classes={num_classes} but the class list has '
            f'{len(classes)} names ({list(classes)}).')


def init_multilabel_model(config: ConfigType,
                          checkpoint: Optional[str],
                          device: Union[str, torch.device, None] = None,
                          cfg_options: Optional[dict] = None):
    """Build the model of ``config`` and load ``checkpoint`` into it.

    Args:
        config (str | Config): Config file or object (the one the checkpoint
            was trained with, or one that builds the same model).
        checkpoint (str, optional): An MMEngine checkpoint. ``None`` keeps
            the random initialisation (with a warning; tests only).
        device (str | torch.device, optional): Defaults to ``'cuda'`` if
            available, else ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        BaseModel: The model in eval mode on ``device``, with ``_config``
        (the config used), ``_dataset_meta`` (class names: from the
        checkpoint, else the config) and ``_checkpoint`` (the path) set, as
        MMPretrain's :func:`~mmpretrain.apis.get_model` does.

    Raises:
        FileNotFoundError: The config or checkpoint does not exist.
        ldr_mm.utils.CorruptCheckpointError: The checkpoint file is empty
            or truncated.
        ldr_mm.utils.UnsafeCheckpointError: The checkpoint holds objects
            outside the weights-only allow-list.
        CheckpointMismatchError: The checkpoint's weights (names or shapes)
            or class names differ from the model the config builds.
    """
    cfg = _as_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg_classes = config_classes(cfg)
    where = f'config "{config}"' if isinstance(config, str) else 'the config'

    ckpt, ckpt_sd, ckpt_meta = _read_checkpoint(checkpoint)
    classes = ckpt_meta.get('classes') or cfg_classes
    from mmpretrain.apis import get_model
    with tempfile.TemporaryDirectory(prefix='ldr_mm_prompt_') as tmpdir:
        if ckpt_sd is not None:
            _prompt_cache_stand_in(cfg, ckpt_sd, classes, tmpdir, checkpoint)
        model = get_model(cfg, pretrained=False, device=None)
    if ckpt is not None:
        load_strict(
            model, ckpt, what=f'Checkpoint "{checkpoint}"',
            hint='It was probably trained with another config (backbone, '
            'widths or classes). Use the config it was trained with.',
            classes=cfg_classes, classes_of=where)
    _check_model_classes(model, classes, where)
    _record_meta(model, classes, ckpt_meta, checkpoint)
    model.to(device)
    model.eval()
    return model


def _record_meta(model, classes, ckpt_meta: dict, checkpoint) -> None:
    """Set ``_dataset_meta`` (class names always) and ``_checkpoint``."""
    num_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
    meta = dict(model._dataset_meta or {})
    meta.update(ckpt_meta)
    if classes is not None:
        meta['classes'] = list(classes)
    elif num_classes is not None:
        meta['classes'] = [str(i) for i in range(num_classes)]
    model._dataset_meta = meta
    model._checkpoint = checkpoint


def model_classes(model) -> Tuple[List[str], List[str], List[str]]:
    """(classes, head_classes, tail_classes) recorded on a loaded model."""
    meta = getattr(model, '_dataset_meta', None) or {}
    classes = [str(c) for c in meta.get('classes') or []]
    return (classes, [str(c) for c in meta.get('head_classes') or []],
            [str(c) for c in meta.get('tail_classes') or []])
