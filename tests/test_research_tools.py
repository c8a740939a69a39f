"""The research scripts still run against the library and the suite.

``tools/stage1_val_sweep.py`` (once in benchmarks/) called helpers of the
old monolithic ``tools/benchmark_suite.py`` after those moved into a package
(now ``tools/benchmark/``) and failed before training anything; these tests
exercise the code path that broke.
"""
import argparse
import importlib.util
import os.path as osp
import sys

from mmengine.config import Config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def _exec(name, module_name):
    path = osp.join(REPO, 'benchmarks', f'{name}.py')
    spec = importlib.util.spec_from_file_location(module_name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load(name, *siblings):
    """Import ``benchmarks/<name>.py`` as ``python benchmarks/<name>.py``
    runs it: the ``siblings`` it imports by name (found there in the
    script's folder) are loaded from their files under those names while it
    is imported; ``sys.path`` and ``sys.modules`` are left as they were."""
    saved = {s: sys.modules.get(s) for s in siblings}
    try:
        for s in siblings:
            sys.modules[s] = _exec(s, s)
        return _exec(name, f'bench_{name}')
    finally:
        for s, mod in saved.items():
            if mod is None:
                sys.modules.pop(s, None)
            else:
                sys.modules[s] = mod


def test_stage1_val_sweep_prepares_the_run_config(tmp_path):
    import stage1_val_sweep as sweep  # tools/ (pytest's pythonpath)
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


def test_heads_on_cached_features_rows():
    """blend=1 is the LDA head alone and blend=0 the stage-1 head's ranking
    (the same AUC / AP), on synthetic class features."""
    import torch
    heads = _load('heads_on_cached_features', 'calibration_on_cached_stats')
    g = torch.Generator().manual_seed(0)
    C, D = 3, 6

    def split(n):
        y = torch.rand(n, C, generator=g) < 0.3
        x = torch.randn(n, C, D, generator=g) + 1.5 * y.unsqueeze(-1)
        return x, y

    data = dict(splits=dict(train=split(400), val=split(300)), tail=[1, 2],
                classes=['a', 'b', 'c'],
                head=(torch.randn(C, D, generator=g), torch.zeros(C)))
    rows = heads.head_rows(data, blends=[0.0, 1.0], shrinkages=[0.5])
    assert set(rows) == {'stage1', 'lda', 'lda_sh0.5', 'blend0', 'blend1'}
    assert rows['blend1'] == rows['lda']
    for a, b in zip(rows['blend0'], rows['stage1']):
        assert abs(a - b) < 1e-12
    # the random stage-1 head ranks worse than LDA on these Gaussians
    assert rows['lda'][0] > rows['stage1'][0] + 0.1


def test_neck_on_cached_features_normalises_images(demo_root, tmp_path):
    """The cached maps are the backbone's on the images as the runner feeds
    them (the config's data preprocessor: BGR->RGB, mean / std); they were
    cached from raw 0-255 pixels (the model built without it)."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    from conftest import load_tiny_cfg
    neck = _load('neck_on_cached_features', 'calibration_on_cached_stats')
    cfg = load_tiny_cfg(demo_root, str(tmp_path))
    init_default_scope('mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).eval()
    ckpt = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)

    maps, labels, tail = neck.cache_features(cfg, ckpt, 'val')
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.split = 'val'
    ds = DATASETS.build(ds_cfg)
    pre = cfg.data_preprocessor
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre.std).view(1, 3, 1, 1)
    images = torch.stack([ds[i]['inputs'] for i in range(len(ds))])
    rgb = images[:, [2, 1, 0]].float()  # to_rgb=True
    with torch.no_grad():
        want = model.backbone((rgb - mean) / std)[-1]
    assert maps.shape == want.shape == (16, 64, 2, 2)
    assert torch.allclose(maps, want, atol=1e-5)
    assert labels.shape == (16, 10) and tail


def test_bench_stage1_runs(capsys):
    """benchmarks/bench_stage1.py end to end on a tiny setting: both models
    take real train steps, interleaved, and the report names both."""
    bench = _load('bench_stage1', 'bench_common')
    ratio = bench.main(['--depth', '18', '--size', '32', '--batch', '2',
                        '--classes', '3', '--prompt-tokens', '5',
                        '--reps', '2', '--warmup', '1'])
    out = capsys.readouterr().out
    assert ratio > 0
    assert 'ResNet-18, 32x32, batch 2, C=3, M=5' in out
    for line in ('  plain  params', '  ldr    params'):
        row = next(r for r in out.splitlines() if r.startswith(line))
        assert len(row.split('(all: ')[1].split(',')) == 2  # --reps 2
    assert f'ratio LDR / plain = {ratio:.3f}' in out
