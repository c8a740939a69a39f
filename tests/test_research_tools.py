"""The research scripts in benchmarks/ still run against the library.

``benchmarks/stage1_val_sweep.py`` called helpers of the old monolithic
``tools/benchmark_suite.py`` after those moved to :mod:`ldr_mm.benchmark`
and failed before training anything; these tests exercise the code path
that broke.
"""
import argparse
import importlib.util
import os.path as osp

from mmengine.config import Config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def _load(name):
    path = osp.join(REPO, 'benchmarks', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'bench_{name}', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stage1_val_sweep_prepares_the_run_config(tmp_path):
    sweep = _load('stage1_val_sweep')
    args = argparse.Namespace(
        config='configs/ldrnet/ldr_r18_demo_stage1.py', backbone_width=16,
        epochs=2, cfg_options={'model.neck.dropout': 0.3})
    out = str(tmp_path / 'run' / 'seed3')
    cfg = Config.fromfile(sweep.prepare_config(args, 3, out))
    assert cfg.randomness.seed == 3
    assert cfg.work_dir == out
    assert cfg.model.backbone.base_channels == 16
    assert cfg.model.neck.in_channels == 128  # 16 * 8: the narrow ResNet-18
    assert cfg.model.neck.dropout == 0.3
    assert cfg.train_cfg.max_epochs == 2
