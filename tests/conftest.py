"""Shared fixtures: a tiny demo dataset, prompt caches and tiny configs."""
import functools
import gc
import os
import os.path as osp

import pytest
import torch

import ldr_mm  # noqa: F401  (registers components)
from ldr_mm.datasets.demo import DEMO_CLASSES
from ldr_mm.prompts import save_random_prompt_cache

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Tiny ResNet: 18 layers, 8 base channels -> 64-channel last map.
TINY_BACKBONE = dict(
    type='ResNet', depth=18, stem_channels=8, base_channels=8,
    out_indices=(3, ), init_cfg=None)
TINY_SPLITS = dict(train=48, val=16, test=16)
TINY_SIZE = 32
STAGE1_DEMO_CFG = osp.join(REPO, 'configs', 'ldrnet',
                           'ldr_r18_demo_stage1.py')


def write_prompt_cache(path, classes, num_tokens=7, dims=16, seed=0,
                       pretrained='test-weights.bin'):
    """Write a valid prompt cache with random embeddings (test helper)."""
    g = torch.Generator().manual_seed(seed)
    return save_random_prompt_cache(path, classes, num_tokens, dims,
                                    generator=g, pretrained=pretrained)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A tiny demo dataset (48/16/16 images of 32x32) and its prompt cache."""
    from ldr_mm.datasets.demo import generate_demo_dataset
    root = str(tmp_path_factory.mktemp('ldr_demo'))
    generate_demo_dataset(root, seed=0, splits=TINY_SPLITS, size=TINY_SIZE)
    write_prompt_cache(osp.join(root, 'prompt.pth'), DEMO_CLASSES)
    return root


def tiny_options(demo_root, work_dir, max_iters=2, val_interval=2,
                 ckpt_interval=2, batch_size=4, num_workers=0):
    """cfg-options that shrink the demo stage-1 config for tests."""
    data = dict(
        data_root=demo_root, splits=TINY_SPLITS, image_size=TINY_SIZE)
    opts = {
        'work_dir': work_dir,
        'model.backbone': TINY_BACKBONE,
        'model.neck.in_channels': 64,
        'model.neck.prompt_cache': osp.join(demo_root, 'prompt.pth'),
        'train_cfg': dict(
            _delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
            val_interval=val_interval),
        'param_scheduler': [],
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint': dict(
            type='CheckpointHook', interval=ckpt_interval, by_epoch=False,
            max_keep_ckpts=10),
        'log_processor': dict(by_epoch=False),
    }
    opts.update(dataloader_options(data, batch_size, num_workers))
    return opts


def dataloader_options(data, batch_size, num_workers):
    """--cfg-options of the train/val/test dataloaders: batch size, workers
    (not persistent) and the dataset keys in ``data``."""
    opts = {}
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        opts[f'{key}.batch_size'] = batch_size
        opts[f'{key}.num_workers'] = num_workers
        opts[f'{key}.persistent_workers'] = False
        for k, v in data.items():
            opts[f'{key}.dataset.{k}'] = v
    return opts


def load_tiny_cfg(demo_root, work_dir, **kwargs):
    from mmengine.config import Config
    cfg = Config.fromfile(STAGE1_DEMO_CFG)
    cfg.merge_from_dict(tiny_options(demo_root, work_dir, **kwargs))
    return cfg


def write_tiny_config(path, demo_root, work_dir, **kwargs):
    """Dump the shrunk demo stage-1 config to ``path`` (for tools/*.py)."""
    cfg = load_tiny_cfg(demo_root, work_dir, **kwargs)
    cfg.dump(str(path))
    return str(path)


@pytest.fixture
def cpu_threads():
    """Run with one intra-op thread (stable timings/results in tests)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


os.environ.setdefault('HF_HUB_OFFLINE', '1')


# -- test-process speed-ups (no change to what any test runs or checks) ----
# Every MMEngine runner a test builds spends most of its CPU time in two
# places that do not depend on the code under test: MMEngine's
# ``BaseDataset._serialize_data`` runs a full ``gc.collect()`` per dataset,
# which walks every object of the test process (torch, MMEngine,
# MMPretrain, all collected test modules), and ``Config.pretty_text`` formats
# the same config text with yapf up to 8 times per run (log, config dump,
# every checkpoint's meta). `pytest --durations` shows it; `make test`
# measurements are in docs/demo.md.


def pytest_collection_finish(session):
    """Move the objects that exist after collection (imported libraries,
    test modules) to the permanent generation: ``gc.collect()`` then only
    walks what the tests create. Nothing created by a test is frozen."""
    gc.collect()
    gc.freeze()


@functools.lru_cache(maxsize=512)
def _format_code(text, style, kwargs):
    from yapf.yapflib.yapf_api import FormatCode
    return FormatCode(text, style_config=dict(style), **dict(kwargs))


def _memo_format_code(text, style_config=None, **kwargs):
    """yapf's ``FormatCode`` (a pure function of its arguments), memoised:
    the same text and style give the same, immutable, result."""
    if not isinstance(style_config, dict):
        from yapf.yapflib.yapf_api import FormatCode
        return FormatCode(text, style_config=style_config, **kwargs)
    return _format_code(text, tuple(sorted(style_config.items())),
                        tuple(sorted(kwargs.items())))


@pytest.fixture(scope='session', autouse=True)
def _memoised_config_formatting():
    """MMEngine's ``Config.pretty_text`` through the memoised formatter
    (undone at the end of the session)."""
    import mmengine.config.config as mm_config
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mm_config, 'FormatCode', _memo_format_code)
        yield


def _managed_classes():
    from mmengine.utils.manager import ManagerMixin
    todo, seen = [ManagerMixin], []
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


@pytest.fixture(autouse=True)
def _mmengine_instances_per_test():
    """Each test's MMEngine loggers, visualizers, message hubs and scopes
    are forgotten at its end (their memory is freed). MMEngine finds them
    by name, a runner's name being its config's file name and the second it
    started; the tools give every run of a process after the first its own
    name (``ldr_mm/utils/run_names.py``, tested without this clean-up in
    ``test_run_names.py``)."""
    before = {cls: set(cls._instance_dict) for cls in _managed_classes()}
    yield
    for cls in _managed_classes():
        kept = before.get(cls, set())
        for name in [n for n in cls._instance_dict if n not in kept]:
            del cls._instance_dict[name]
