"""Build a model from a config and load a checkpoint strictly and safely.

MMPretrain's :func:`~mmpretrain.apis.get_model` loads weights with
MMEngine's ``load_checkpoint``, which is *non-strict*: a checkpoint from
another config is half-loaded with a warning that is easy to miss, and
inference then runs on partly random weights. Here the checkpoint is read
with ``torch.load(weights_only=True)`` (:func:`ldr_mm.utils.
safe_load_checkpoint`), compared key by key and shape by shape with the model
built from the config, and its class names (``meta.dataset_meta.classes``)
with the classes the config names; any difference is refused with a message
that names it.

A checkpoint of an :class:`~ldr_mm.models.LDRNeck` model carries its prompt
embeddings (the ``neck.word_embeddings`` buffer), so inference does not need
the prompt cache file the config names: when that file is missing, the neck is
built from the checkpoint's own embeddings (see :func:`init_multilabel_model`).
"""
import copy
import os.path as osp
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ldr_mm.utils import safe_load_checkpoint

ConfigType = Union[str, Config]


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model built from the given config."""


def _as_config(config: ConfigType) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config "{config}" does not exist')
        return Config.fromfile(config)
    raise TypeError(f'config must be a path or a Config, got {type(config)}')


def dataset_config(cfg: Config) -> Optional[dict]:
    """The test (else val, else train) dataset config, unwrapped from
    dataset wrappers; ``None`` if the config has no dataloader."""
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset'):
            ds = loader['dataset']
            # wrappers (ClassBalancedDataset, ...) keep the real one inside
            while isinstance(ds, dict) and 'dataset' in ds and \
                    'classes' not in ds and 'metainfo' not in ds:
                ds = ds['dataset']
            return ds
    return None


def config_classes(cfg: Config) -> Optional[List[str]]:
    """Class names a config declares, without reading any annotation file.

    Looked up in the test (else val, else train) dataset config: its
    ``metainfo.classes``, then its ``classes`` argument, then the registered
    dataset class's ``METAINFO['classes']``. ``None`` if none is given (a
    plain ``MultiLabelDataset`` reads its classes from the annotation file).
    """
    ds = dataset_config(cfg)
    if not isinstance(ds, dict):
        return None
    meta = ds.get('metainfo') or {}
    if isinstance(meta, dict) and meta.get('classes'):
        return [str(c) for c in meta['classes']]
    if ds.get('classes') and not isinstance(ds['classes'], str):
        return [str(c) for c in ds['classes']]
    from mmpretrain.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        try:
            cls = DATASETS.get(ds.get('type'))
        except Exception:  # noqa: BLE001 - unknown type: no class list
            cls = None
    classes = getattr(cls, 'METAINFO', {}).get('classes') if cls else None
    return [str(c) for c in classes] if classes else None


def checkpoint_state_dict(ckpt) -> Dict[str, torch.Tensor]:
    """The model weights of an MMEngine checkpoint (or a bare state dict)."""
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        sd = ckpt['state_dict']
    elif isinstance(ckpt, dict) and ckpt and all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        sd = ckpt
    else:
        raise CheckpointMismatchError(
            'The checkpoint holds no model weights (no `state_dict` entry '
            'and not a bare state dict).')
    if sd and all(k.startswith('module.') for k in sd):  # saved from DDP
        sd = {k[len('module.'):]: v for k, v in sd.items()}
    return sd


def checkpoint_dataset_meta(ckpt) -> dict:
    """``meta.dataset_meta`` of an MMEngine checkpoint, ``{}`` if absent."""
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if isinstance(meta, dict):
        if isinstance(meta.get('dataset_meta'), dict):
            return dict(meta['dataset_meta'])
        if meta.get('CLASSES'):  # mmcls 0.x
            return dict(classes=list(meta['CLASSES']))
    return {}


def compare_state_dicts(model_sd: Dict[str, torch.Tensor],
                        ckpt_sd: Dict[str, torch.Tensor],
                        limit: int = 8) -> List[str]:
    """Human-readable differences between two state dicts (empty: none)."""
    problems = []
    missing = [k for k in model_sd if k not in ckpt_sd]
    unexpected = [k for k in ckpt_sd if k not in model_sd]
    shapes = [(k, tuple(ckpt_sd[k].shape), tuple(model_sd[k].shape))
              for k in model_sd
              if k in ckpt_sd and tuple(ckpt_sd[k].shape) != tuple(
                  model_sd[k].shape)]

    def few(items):
        more = len(items) - limit
        return ', '.join(items[:limit]) + (f' (and {more} more)'
                                           if more > 0 else '')

    if shapes:
        problems.append(f'{len(shapes)} weight(s) of different shape: ' + few(
            [f'{k} checkpoint {a} vs model {b}' for k, a, b in shapes]))
    if missing:
        problems.append(f'{len(missing)} weight(s) of the model missing from '
                        f'the checkpoint: {few(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} weight(s) in the checkpoint that '
                        f'the model does not have: {few(unexpected)}')
    return problems


def _class_difference(a: Sequence[str], b: Sequence[str]) -> str:
    a, b = list(a), list(b)
    if len(a) != len(b):
        return f'{len(a)} vs {len(b)} classes'
    if sorted(a) == sorted(b):
        return 'same names in another order'
    diff = [f'#{i}: {x!r} vs {y!r}' for i, (x, y) in enumerate(zip(a, b))
            if x != y]
    return ', '.join(diff[:6]) + (' ...' if len(diff) > 6 else '')


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
            'the checkpoint alone. Make the cache (see the README, step 1).')
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

    ckpt, ckpt_sd, ckpt_meta = None, None, {}
    if checkpoint is not None:
        ckpt = safe_load_checkpoint(checkpoint, map_location='cpu')
        try:
            ckpt_sd = checkpoint_state_dict(ckpt)
        except CheckpointMismatchError as e:
            raise CheckpointMismatchError(f'"{checkpoint}": {e}') from None
        ckpt_meta = checkpoint_dataset_meta(ckpt)
        ckpt_classes = ckpt_meta.get('classes')
        if ckpt_classes is not None and cfg_classes is not None and list(
                ckpt_classes) != list(cfg_classes):
            raise CheckpointMismatchError(
                f'Checkpoint "{checkpoint}" was trained on the classes '
                f'{list(ckpt_classes)}, but {where} names {cfg_classes} '
                f'({_class_difference(ckpt_classes, cfg_classes)}). Use the '
                'config the checkpoint was trained with.')
    else:
        warnings.warn('No checkpoint given: the model keeps its random '
                      'initialisation; its scores mean nothing.')

    classes = ckpt_meta.get('classes') or cfg_classes
    from mmpretrain.apis import get_model
    with tempfile.TemporaryDirectory(prefix='ldr_mm_prompt_') as tmpdir:
        if ckpt_sd is not None:
            _prompt_cache_stand_in(cfg, ckpt_sd, classes, tmpdir, checkpoint)
        model = get_model(cfg, pretrained=False, device=None)

    if ckpt_sd is not None:
        problems = compare_state_dicts(model.state_dict(), ckpt_sd)
        if problems:
            raise CheckpointMismatchError(
                f'Checkpoint "{checkpoint}" does not fit the model built from '
                f'{where}:\n  - ' + '\n  - '.join(problems) +
                '\nIt was probably trained with another config (backbone, '
                'widths or number of classes). Use the config it was trained '
                'with.')
        model.load_state_dict(ckpt_sd, strict=True)

    prompt_classes = getattr(getattr(model, 'neck', None), 'prompt_classes',
                             None)
    if classes is not None and prompt_classes is not None and list(
            prompt_classes) != list(classes):
        raise CheckpointMismatchError(
            f'The prompt cache of {where} was made for the classes '
            f'{list(prompt_classes)}, but the checkpoint/config classes are '
            f'{list(classes)} ({_class_difference(prompt_classes, classes)}).')
    num_classes = getattr(getattr(model, 'head', None), 'num_classes', None)
    if classes is not None and num_classes is not None and \
            len(classes) != num_classes:
        raise CheckpointMismatchError(
            f'The model has num_classes={num_classes} but the class list has '
            f'{len(classes)} names ({list(classes)}).')

    meta = dict(model._dataset_meta or {})
    meta.update(ckpt_meta)
    if classes is not None:
        meta['classes'] = list(classes)
    elif num_classes is not None:
        meta['classes'] = [str(i) for i in range(num_classes)]
    model._dataset_meta = meta
    model._checkpoint = checkpoint
    model.to(device)
    model.eval()
    return model


def model_classes(model) -> Tuple[List[str], List[str], List[str]]:
    """(classes, head_classes, tail_classes) recorded on a loaded model."""
    meta = getattr(model, '_dataset_meta', None) or {}
    classes = [str(c) for c in meta.get('classes') or []]
    return (classes, [str(c) for c in meta.get('head_classes') or []],
            [str(c) for c in meta.get('tail_classes') or []])
