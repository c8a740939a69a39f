"""Helpers of the inference / analysis tests: a tiny trained checkpoint.

Each test module trains its own (module-scoped fixture) through
``tools/train.py``, on a small demo dataset of 64x64 images so the ResNet's
last map is 2x2 (attention maps over 4 image tokens, not 1).
"""
import importlib.util
import os.path as osp
from typing import NamedTuple

import cv2
import numpy as np
import torch

from conftest import REPO, write_prompt_cache, write_tiny_config

SIZE = 64
SPLITS = dict(train=24, val=16, test=12)


def load_tool(relpath: str):
    """Import ``tools/<relpath>`` as a module (no clash with stdlib names)."""
    path = osp.join(REPO, 'tools', relpath)
    name = 'tool_' + relpath.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TinyRun(NamedTuple):
    root: str  # demo data root
    config: str  # the dumped config (absolute paths)
    checkpoint: str
    work_dir: str


def make_tiny_run(base_dir: str, max_iters: int = 2) -> TinyRun:
    """Generate data, write a prompt cache, train ``max_iters`` iterations."""
    from ldr_mm.datasets.demo import DEMO_CLASSES, generate_demo_dataset
    root = osp.join(base_dir, 'data')
    generate_demo_dataset(root, seed=1, splits=SPLITS, size=SIZE)
    write_prompt_cache(osp.join(root, 'prompt.pth'), DEMO_CLASSES)
    work = osp.join(base_dir, 'work')
    cfg = write_tiny_config(osp.join(base_dir, 'cfg.py'), root, work,
                            max_iters=max_iters, val_interval=1000,
                            ckpt_interval=max_iters)
    load_tool('train.py').main([cfg])
    ckpt = osp.join(work, f'iter_{max_iters}.pth')
    assert osp.isfile(ckpt)
    return TinyRun(root, cfg, ckpt, work)


def reference_model(cfg, checkpoint: str) -> torch.nn.Module:
    """The config's model (with its data preprocessor) built by
    MMPretrain's MODELS and given the checkpoint's state dict (strict), in
    eval mode: independent of ``ldr_mm.apis``."""
    from mmpretrain.registry import MODELS
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    sd = torch.load(checkpoint, map_location='cpu',
                    weights_only=True)['state_dict']
    model.load_state_dict(sd)
    model.eval()
    return model


def reference_scores(config: str, checkpoint: str, paths) -> np.ndarray:
    """Scores of the model's own forward pass, built independently of
    ``ldr_mm.apis``: MODELS.build + load_state_dict + cv2 images through
    the data preprocessor + ``model(mode='tensor')`` + sigmoid."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    model = reference_model(cfg, checkpoint)
    imgs = [torch.from_numpy(cv2.imread(p, cv2.IMREAD_COLOR).transpose(
        2, 0, 1).copy()) for p in paths]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=imgs), False)
        logits = model(data['inputs'], mode='tensor')
    return torch.sigmoid(logits).numpy()


def png_stats(path: str):
    """(height, width, pixel std, distinct colours) of a PNG."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    assert img is not None, path
    colours = np.unique(img.reshape(-1, 3), axis=0).shape[0]
    return img.shape[0], img.shape[1], float(img.std()), int(colours)


def heat_spread(path: str) -> float:
    """Spread (std over pixels) of B - R of a PNG overlay.

    The demo images are grey (B = G = R), so B - R of an overlay is the
    heat map's own colour, scaled by its blending weight: a flat attention
    map gives one colour everywhere (spread 0: measured on a uniform map over
    random grey pixels), a map that picks out some regions a positive one.
    """
    img = cv2.imread(path, cv2.IMREAD_COLOR).astype(np.float64)
    return float((img[..., 0] - img[..., 2]).std())
