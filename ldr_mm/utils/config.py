"""Read dataset settings from a config, through dataset wrappers.

One rule for every wrapper: a dataset config with a ``dataset`` entry
(MMEngine's ``RepeatDataset``, ``ClassBalancedDataset``, MMPretrain's
``KFoldDataset``, or a user wrapper) is unwrapped to that entry, one with a
``datasets`` list (``ConcatDataset``) to its first element -- MMEngine's
``ConcatDataset`` requires every part to have the same ``metainfo``, so the
first one speaks for all.
"""
import copy
from typing import List, Optional, Sequence

#: The dataloaders looked at, in order, when a caller names no split.
EVAL_SPLITS = ('test', 'val', 'train')


def inner_dataset_cfg(ds_cfg: Optional[dict]) -> Optional[dict]:
    """The innermost dataset config of ``ds_cfg`` (itself if not wrapped).

    Args:
        ds_cfg (dict, optional): A dataset config, e.g.
            ``cfg.train_dataloader.dataset``.

    Returns:
        dict | None: The config of the dataset that reads the data (the same
        object, not a copy); ``None`` if ``ds_cfg`` is empty.
    """
    seen = 0
    while isinstance(ds_cfg, dict):
        if isinstance(ds_cfg.get('dataset'), dict):
            ds_cfg = ds_cfg['dataset']
        elif isinstance(ds_cfg.get('datasets'), (list, tuple)) and \
                ds_cfg['datasets']:
            ds_cfg = ds_cfg['datasets'][0]
        else:
            return ds_cfg or None
        seen += 1
        if seen > 100:
            raise ValueError('Dataset wrappers nested more than 100 deep: '
                             'the dataset config refers to itself.')
    return ds_cfg or None


def split_dataset_cfg(cfg, splits: Sequence[str] = EVAL_SPLITS
                      ) -> Optional[dict]:
    """The inner dataset config of the first of ``splits`` that has one.

    Args:
        cfg (Config | dict): A full config.
        splits (Sequence[str]): Split names; ``'test'`` reads
            ``cfg.test_dataloader.dataset``. Defaults to test, val, train.

    Returns:
        dict | None: See :func:`inner_dataset_cfg`; ``None`` if none of the
        dataloaders is configured.
    """
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if loader and loader.get('dataset'):
            return inner_dataset_cfg(loader['dataset'])
    return None


def _registered_metainfo(ds_type) -> dict:
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS
    if not isinstance(ds_type, str):
        return dict(getattr(ds_type, 'METAINFO', None) or {})
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        try:
            cls = DATASETS.get(ds_type)
        except Exception:  # noqa: BLE001 - an unknown type has no METAINFO
            cls = None
    return dict(getattr(cls, 'METAINFO', None) or {})


def config_metainfo(cfg, splits: Sequence[str] = EVAL_SPLITS,
                    build: bool = False) -> dict:
    """The dataset ``metainfo`` a config declares (classes and the rest).

    Merged from the registered dataset class's ``METAINFO``, the config's
    ``metainfo`` and its ``classes`` argument (later ones win), for the
    first of ``splits`` with a dataloader.

    Args:
        cfg (Config | dict): A full config.
        splits (Sequence[str]): See :func:`split_dataset_cfg`.
        build (bool): If the config names no class list (a plain
            ``MultiLabelDataset`` reads it from its annotation file, or
            ``classes`` is a file), build the dataset and use its metainfo.

    Returns:
        dict: The metainfo; ``{}`` (or no ``classes``) if not declared.
    """
    ds = split_dataset_cfg(cfg, splits)
    if not isinstance(ds, dict):
        return {}
    meta = _registered_metainfo(ds.get('type'))
    meta.update(copy.deepcopy(dict(ds.get('metainfo') or {})))
    if ds.get('classes') is not None and not isinstance(ds['classes'], str):
        meta['classes'] = list(ds['classes'])
    if not meta.get('classes') and build:
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import DATASETS
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            meta = dict(DATASETS.build(copy.deepcopy(ds)).metainfo)
    return meta


def config_classes(cfg, splits: Sequence[str] = EVAL_SPLITS,
                   build: bool = False) -> Optional[List[str]]:
    """Class names a config declares (see :func:`config_metainfo`).

    Returns:
        list[str] | None: The names in order; ``None`` if the config gives
        none (and ``build`` is False).
    """
    classes = config_metainfo(cfg, splits, build).get('classes')
    return [str(c) for c in classes] if classes else None
