"""CAMs of the baseline models (ldr_mm.apis.cam), in the inferencer and in
tools/visualize_attention.py, beside LDRNet's attention maps."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmpretrain.registry import MODELS

from conftest import (REPO, TINY_BACKBONE, TINY_SIZE, TINY_SPLITS,
                      write_prompt_cache)
from inference_helpers import load_tool, png_stats
from ldr_mm.apis import (MultiLabelInferencer, class_activation_maps,
                         supports_cam)

BASELINE_CFG = osp.join(REPO, 'configs', 'baselines', 'bce_r18_demo.py')


def baseline_cfg(demo_root, work_dir, max_iters=2):
    cfg = Config.fromfile(BASELINE_CFG)
    opts = {
        'work_dir': work_dir,
        'model.backbone': TINY_BACKBONE,
        'model.head.in_channels': 64,
        'train_cfg': dict(_delete_=True, type='IterBasedTrainLoop',
                          max_iters=max_iters, val_interval=1000),
        'param_scheduler': [],
        'default_hooks.checkpoint': dict(
            type='CheckpointHook', interval=max_iters, by_epoch=False),
        'log_processor': dict(by_epoch=False),
    }
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        opts[f'{key}.batch_size'] = 4
        opts[f'{key}.num_workers'] = 0
        opts[f'{key}.persistent_workers'] = False
        opts[f'{key}.dataset.data_root'] = demo_root
        opts[f'{key}.dataset.splits'] = TINY_SPLITS
        opts[f'{key}.dataset.image_size'] = TINY_SIZE
    cfg.merge_from_dict(opts)
    return cfg


def tiny_baseline():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier', backbone=TINY_BACKBONE,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='MultiLabelLinearClsHead', num_classes=3,
                  in_channels=64)))
    model.init_weights()
    return model.eval()


def test_cam_is_the_logit_decomposition():
    model = tiny_baseline()
    assert supports_cam(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.backbone(x)
        raw = class_activation_maps(model, feats, normalize=False)
        logits = model(x, mode='tensor')
    assert raw.shape == (2, 3, 2, 2)
    # logit_c = mean_hw M_c + b_c: the map explains the score exactly
    torch.testing.assert_close(raw.mean((-2, -1)) + model.head.fc.bias,
                               logits)
    cam = class_activation_maps(model, feats)
    sums = cam.sum((-2, -1))
    assert (cam >= 0).all()
    has_pos = (raw > 0).flatten(2).any(-1)
    torch.testing.assert_close(sums[has_pos], torch.ones_like(sums[has_pos]))
    assert (sums[~has_pos] == 0).all()


def test_cam_refuses_other_models(tmp_path):
    cache = str(tmp_path / 'p.pth')
    write_prompt_cache(cache, ['a', 'b', 'c'], num_tokens=4, dims=8)
    ldr = MODELS.build(dict(
        type='LDRClassifier', backbone=TINY_BACKBONE,
        neck=dict(type='LDRNeck', in_channels=64, prompt_cache=cache),
        head=dict(type='LDRHead', num_classes=3)))
    assert not supports_cam(ldr)
    with pytest.raises(ValueError, match='GlobalAveragePooling.*LDRNet '
                       'models give label-query attention'):
        class_activation_maps(ldr, (torch.randn(1, 64, 2, 2), ))
    with pytest.raises(ValueError, match=r'\(B, K, h, w\)'):
        class_activation_maps(tiny_baseline(), (torch.randn(1, 64), ))


def test_inferencer_returns_cams_for_a_baseline(demo_root, tmp_path):
    cfg = baseline_cfg(demo_root, str(tmp_path / 'w'))
    infer = MultiLabelInferencer(cfg, pretrained=False, device='cpu')
    paths = sorted(glob.glob(osp.join(demo_root, 'images', 'test',
                                      '*.png')))[:2]
    res = infer(paths, return_attention=True, batch_size=2, progress=False)
    # the demo backbone's output stride 16: a 2 x 2 map of 32 x 32 images
    side = TINY_SIZE // 16
    assert [r['attention'].shape for r in res] == [(10, side, side)] * 2
    cams = np.stack([r['attention'] for r in res])
    assert ((np.abs(cams.sum((-2, -1)) - 1) < 1e-5) |
            (cams.sum((-2, -1)) == 0)).all()


@pytest.mark.slow
def test_visualize_attention_on_a_trained_baseline(tmp_path_factory, capsys):
    """tools/train.py on a baseline config, then the attention tool gives
    its CAMs (64 px images: a 2 x 2 map) as for an LDR model."""
    from ldr_mm.datasets.demo import generate_demo_dataset
    base = tmp_path_factory.mktemp('cam')
    root = str(base / 'data')
    generate_demo_dataset(root, seed=1, splits=TINY_SPLITS, size=64)
    cfg = baseline_cfg(root, str(base / 'work'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.image_size = 64
    cfg_path = str(base / 'bce.py')
    cfg.dump(cfg_path)
    load_tool('train.py').main([cfg_path])
    ckpt = str(base / 'work' / 'iter_2.pth')
    paths = sorted(glob.glob(osp.join(root, 'images', 'test', '*.png')))[:2]
    out = tmp_path_factory.mktemp('cam_png')
    res = load_tool('visualize_attention.py').main(
        [cfg_path, ckpt] + paths + ['--out-dir', str(out), '--classes',
                                    'all', '--min-size', '128',
                                    '--no-progress'])
    assert len(res['written']) == 2
    # 64 x 64 images at the demo backbone's output stride 16
    assert res['results'][0]['attention'].shape == (10, 4, 4)
    H, W, std, colours = png_stats(res['written'][0])
    assert W == 128 * 11 and std > 10 and colours > 200
    assert 'Wrote 2 PNG file(s)' in capsys.readouterr().out
