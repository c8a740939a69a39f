"""Config files of the suite: lookup, stage-2 chaining, the dataset key.

A config is a file or a file with values (``CONFIG.py@NAME=VALUE``,
:mod:`.variants`); every function here takes both.
"""
import os.path as osp

from .presets import REPO
from .variants import VariantError, split_spec, variant_options


class SuiteError(RuntimeError):
    """A problem with the suite's inputs, reported without a traceback."""


def repo_path(spec: str) -> str:
    """``spec``'s file as given if it exists, else relative to the
    repository (absolute; its values kept and checked)."""
    path, values = split_spec(spec)
    try:
        variant_options(values, spec)
    except VariantError as e:
        raise SuiteError(str(e)) from None
    suffix = f'@{values}' if values else ''
    if osp.isfile(path):
        return osp.abspath(path) + suffix
    cand = osp.join(REPO, path)
    if osp.isfile(cand):
        return cand + suffix
    raise SuiteError(f'Config "{path}" not found')


def run_name(config: str) -> str:
    """The config's file name without ``.py`` and its values, if any
    (``ldr_r18_demo_stage2_paper@alpha=0.3``): names its results."""
    path, values = split_spec(config)
    name = osp.splitext(osp.basename(path))[0]
    return f'{name}@{values}' if values else name


def load_config(spec: str):
    """The config of a file, with the spec's values set (:mod:`.variants`)."""
    from mmengine.config import Config
    path, values = split_spec(spec)
    cfg = Config.fromfile(path)
    options = variant_options(values, spec)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def is_stage2(cfg) -> bool:
    """A stage-2 config fine-tunes a stage-1 checkpoint."""
    model = cfg.get('model') or {}
    return 'stage1_checkpoint' in model


def continues_stage1(cfg) -> bool:
    """A config that trains on from a stage-1 checkpoint through
    ``load_from`` (the train-longer control): it names its ``stage1_config``
    but is no stage-2 config."""
    return bool(cfg.get('stage1_config')) and not is_stage2(cfg)


def is_baseline(config: str) -> bool:
    """A config of ``configs/baselines`` (the loss baselines)."""
    return f'{osp.sep}baselines{osp.sep}' in osp.join(osp.sep, config)


def stage1_config_of(path: str, cfg) -> str:
    """The stage-1 config a stage-2 (or train-longer) config starts from.

    The config's ``stage1_config`` variable (a path relative to the config),
    or else its nearest ``_base_`` ancestor that is not a stage-2 config.
    """
    path = split_spec(path)[0]
    explicit = cfg.get('stage1_config')
    if explicit:
        cand = explicit if osp.isabs(explicit) else osp.join(
            osp.dirname(path), explicit)
        if not osp.isfile(cand):
            raise SuiteError(
                f'{path}: stage1_config "{explicit}" not found (a relative '
                'path is resolved against the config that is run, also when '
                'it is inherited from a _base_ elsewhere: set it in this '
                'file)')
        return osp.abspath(cand)
    from mmengine.config import Config
    todo, seen = [path], set()
    while todo:
        cur = todo.pop(0)
        for base in Config._get_base_files(cur):
            base = osp.abspath(osp.join(osp.dirname(cur), base))
            if base in seen:
                continue
            seen.add(base)
            bcfg = load_config(base)
            if 'model' in bcfg and not is_stage2(bcfg) and \
                    'train_dataloader' in bcfg:
                return base
            todo.append(base)
    raise SuiteError(
        f'{path} is a stage-2 config but no stage-1 config was found among '
        "its _base_ files; set `stage1_config = 'PATH'` in it.")


def dataset_key(cfg) -> tuple:
    """(type, data_root, ann_file) of the config's training dataset, inside
    any dataset wrapper (:func:`ldr_mm.utils.inner_dataset_cfg`)."""
    from ldr_mm.utils import inner_dataset_cfg
    ds = inner_dataset_cfg(cfg.train_dataloader.dataset)
    return (ds.get('type'), ds.get('data_root'), ds.get('ann_file'))
