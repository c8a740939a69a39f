"""LDR models in MMPretrain's model hub: ``list_models``, ``get_model``,
``inference_model``.

``register_ldr_models`` reads the project's ``model-index.yml``
(``configs/ldrnet/metafile.yml``; in a checkout or, installed, in
``ldr_mm/.mim``) into :class:`mmpretrain.apis.ModelHub`, so
``mmpretrain.list_models('*ldr*')`` lists the LDR configs by name.

MMPretrain's own ``get_model(name, pretrained=CKPT)`` would load a
checkpoint *non-strictly* (a checkpoint of another config is half-loaded with
a log warning), and its ``inference_model`` picks the inferencer from the
model-index task, where ``ImageClassificationInferencer`` keeps only the
argmax class (single label) and any other task raises
``NotImplementedError``. This module therefore exports its own
:func:`get_model` and :func:`inference_model` (``ldr_mm.apis.get_model`` /
``inference_model``, MMPretrain's signatures): for an LDR model -- a name of
this index, a config that imports ``ldr_mm`` (every config of this
repository) or a model built from one -- ``get_model`` with a checkpoint
loads it with :func:`~ldr_mm.apis.init_multilabel_model` (weights-only,
strict, class names checked) and ``inference_model`` runs
:class:`~ldr_mm.apis.MultiLabelInferencer` and returns its first result.
Every other model goes to MMPretrain's function unchanged. MMPretrain's
functions themselves are left as they are.
"""
import os.path as osp
import re
from typing import Optional

from mmengine.config import Config

from ..utils.project_files import project_root

#: The model index: the checkout's, or ``ldr_mm/.mim/model-index.yml`` of an
#: installed wheel.
MODEL_INDEX = osp.join(project_root(), 'model-index.yml')

_registered: set = set()


def register_ldr_models(model_index: str = MODEL_INDEX) -> list:
    """Register the LDR model index in MMPretrain's ``ModelHub`` (once).

    Returns:
        list[str]: The model names registered (empty when the index file is
        not there, e.g. a wheel built without ``ldr_mm/.mim``).
    """
    if _registered or not osp.isfile(model_index):
        return sorted(_registered)
    from modelindex.load_model_index import load

    from mmpretrain.apis import ModelHub
    index = load(model_index)
    index.build_models_with_collections()
    names = [m.name.lower() for m in index.models]
    clash = [n for n in names if ModelHub.has(n)]
    if clash:
        raise ValueError(f'LDR model names {clash} are already in '
                         'MMPretrain\'s ModelHub')
    ModelHub.register_model_index(model_index)
    _registered.update(names)
    return sorted(_registered)


def _imports_ldr_mm(cfg: Config) -> bool:
    imports = (cfg.get('custom_imports') or {}).get('imports') or []
    imports = [imports] if isinstance(imports, str) else imports
    return any(str(i).split('.')[0] == 'ldr_mm' for i in imports)


def ldr_config(model) -> Optional[Config]:
    """The config of an LDR model given as MMPretrain accepts it (name,
    config path, ``Config`` or built model), else None."""
    from mmengine.model import BaseModel

    from mmpretrain.apis import ModelHub
    if isinstance(model, BaseModel):
        cfg = getattr(model, '_config', None)
        return cfg if isinstance(cfg, Config) and _imports_ldr_mm(cfg) \
            else None
    if isinstance(model, Config):
        return model if _imports_ldr_mm(model) else None
    if isinstance(model, str) and model.endswith('.py') and osp.isfile(model):
        cfg = Config.fromfile(model)
        return cfg if _imports_ldr_mm(cfg) else None
    if isinstance(model, str) and model.lower() in _registered:
        return ModelHub.get(model).config
    return None


def get_model(model, pretrained=False, device=None, device_map=None,
              offload_folder=None, url_mapping=None, **kwargs):
    """MMPretrain's :func:`~mmpretrain.apis.get_model`, strict for LDR models.

    Args and return value as MMPretrain's. For an LDR model (see the module
    docstring) with ``pretrained`` a checkpoint path, the model is built and
    loaded by :func:`~ldr_mm.apis.init_multilabel_model` (weights-only,
    strict: a missing or misshapen weight raises
    :class:`~ldr_mm.utils.CheckpointMismatchError`); ``device_map`` is then
    refused. Anything else is MMPretrain's ``get_model``.
    """
    from mmpretrain.apis import get_model as mmpretrain_get_model
    cfg = ldr_config(model)
    if cfg is None or not isinstance(pretrained, str):
        return mmpretrain_get_model(
            model, pretrained, device=device, device_map=device_map,
            offload_folder=offload_folder, url_mapping=url_mapping, **kwargs)
    if device_map is not None:
        raise ValueError('get_model(device_map=...) is not supported for LDR '
                         'models; pass device= instead.')
    from .model_loading import init_multilabel_model
    if url_mapping is not None:
        pretrained = re.sub(url_mapping[0], url_mapping[1], pretrained)
    net = init_multilabel_model(cfg, pretrained, device=device or 'cpu',
                                cfg_options={'model': kwargs} if kwargs
                                else None)
    net._metainfo = None
    if isinstance(model, str) and model.lower() in _registered:
        from mmpretrain.apis import ModelHub
        net._metainfo = ModelHub.get(model)
    return net


def inference_model(model, *args, **kwargs):
    """MMPretrain's :func:`~mmpretrain.apis.inference_model`, multi-label for
    LDR models.

    For an LDR model (see the module docstring) it runs
    :class:`~ldr_mm.apis.MultiLabelInferencer` (keywords ``pretrained``,
    ``device``, ``thresholds`` and the inferencer's call arguments) and
    returns the result of the first input: a dict with ``pred_scores``
    (shape ``(C,)``), ``pred_label`` (every class at or above its
    threshold) and ``pred_class``. Anything else is MMPretrain's
    ``inference_model``.
    """
    cfg = ldr_config(model)
    if cfg is None:
        from mmpretrain.apis import inference_model as mmpretrain_inference
        return mmpretrain_inference(model, *args, **kwargs)
    from .multilabel_inferencer import MultiLabelInferencer
    init = {k: kwargs.pop(k) for k in ('pretrained', 'device', 'thresholds')
            if k in kwargs}
    # a built model keeps its weights; a name or config needs pretrained=
    target = cfg if isinstance(model, str) else model
    return MultiLabelInferencer(target, **init)(*args, **kwargs)[0]
