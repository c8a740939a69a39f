"""LDRNeck input handling: maps, channels-last maps and ViT-style tokens
(MMPretrain's VisionTransformer out_type='raw', timm ViTs), the ready
ConvNeXt / Swin / ViT configs, and the error hints."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmpretrain.registry import MODELS

from conftest import REPO, write_prompt_cache
from ldr_mm.datasets.nih import NIH_CLASSES
from ldr_mm.models import LDRNeck, to_feature_map, tokens_to_map

CLASSES = ['a', 'b', 'c']
TINY_VIT = dict(type='VisionTransformer',
                arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                          feedforward_channels=64),
                img_size=32, patch_size=8, init_cfg=None)


@pytest.fixture
def cache(tmp_path):
    path = str(tmp_path / 'p.pth')
    write_prompt_cache(path, CLASSES, num_tokens=4, dims=8)
    return path


def ldr_model(cache, backbone, channels):
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='LDRClassifier', backbone=backbone,
        neck=dict(type='LDRNeck', in_channels=channels, prompt_cache=cache,
                  num_heads=2, dropout=0.0),
        head=dict(type='LDRHead', num_classes=3)))
    model.init_weights()
    return model.eval()


def test_tokens_to_map():
    grid = torch.randn(2, 5, 3, 4)  # (B, C, h, w)
    tokens = grid.flatten(2).transpose(1, 2)  # (B, 12, C)
    cls = torch.randn(2, 1, 5)
    torch.testing.assert_close(
        tokens_to_map(torch.cat([cls, tokens], 1), 1, grid=(3, 4)), grid)
    square = torch.randn(2, 5, 4, 4)
    seq = square.flatten(2).transpose(1, 2)
    torch.testing.assert_close(tokens_to_map(seq), square)  # no class token
    torch.testing.assert_close(
        tokens_to_map(torch.cat([cls, seq], 1)), square)  # 'auto' drops 1
    torch.testing.assert_close(
        tokens_to_map(torch.cat([cls, cls, seq], 1)), square)  # DeiT: 2
    with pytest.raises(ValueError, match="not a square grid.*"
                       "num_extra_tokens.*out_type='featmap'.*"
                       "features_only=True"):
        tokens_to_map(torch.randn(1, 12, 5))
    with pytest.raises(ValueError, match='do not form a 3x5 grid'):
        tokens_to_map(torch.randn(1, 13, 5), 1, grid=(3, 5))


def test_channels_last_and_errors():
    x = torch.randn(2, 8, 3, 4)
    torch.testing.assert_close(to_feature_map((x, ), 8), x)
    torch.testing.assert_close(
        to_feature_map((x.permute(0, 2, 3, 1), ), 8), x)  # timm Swin NHWC
    with pytest.raises(ValueError, match="spatial feature map.*"
                       "out_type='featmap'.*features_only=True"):
        to_feature_map((torch.randn(2, 8), ), 8)  # pooled
    with pytest.raises(ValueError, match='neck.in_channels=6'):
        to_feature_map((torch.randn(2, 5, 6), ), 8)
    with pytest.raises(ValueError, match="num_extra_tokens must be 'auto'"):
        LDRNeck(in_channels=8, num_classes=3, use_prompt=False,
                num_extra_tokens=-1)


def test_vit_raw_tokens_equal_featmap(cache):
    """MMPretrain ViT: 'raw' tokens (with the class token) through the neck
    give exactly the 'featmap' result; the count comes from the backbone."""
    feat = ldr_model(cache, dict(TINY_VIT, out_type='featmap'), 32)
    raw = ldr_model(cache, dict(TINY_VIT, out_type='raw'), 32)
    raw.load_state_dict(feat.state_dict())
    assert raw.neck.num_extra_tokens == 1  # from backbone.num_extra_tokens
    x = torch.randn(2, 3, 32, 32)
    assert raw.backbone(x)[0].shape == (2, 1 + 16, 32)
    torch.testing.assert_close(raw(x), feat(x))
    _, attn, hw = raw.neck.forward_attention(raw.backbone(x))
    assert hw == (4, 4) and attn.shape == (2, 3, 4, 4)
    torch.testing.assert_close(attn.sum((-2, -1)), torch.ones(2, 3))
    no_cls = ldr_model(cache, dict(TINY_VIT, out_type='raw',
                                   with_cls_token=False), 32)
    assert no_cls.neck.num_extra_tokens == 0
    assert no_cls(x).shape == (2, 3)


def test_timm_vit_prefix_tokens(cache):
    """timm ViT through MMPretrain's TIMMBackbone: (B, N, C) tokens with 1
    class + 4 register tokens; the count comes from num_prefix_tokens."""
    backbone = dict(type='TIMMBackbone', model_name='vit_tiny_patch16_224',
                    pretrained=False, img_size=32, reg_tokens=4, depth=1)
    model = ldr_model(cache, backbone, 192)
    assert model.neck.num_extra_tokens == 5
    x = torch.randn(1, 3, 32, 32)
    assert model.backbone(x)[-1].shape == (1, 5 + 4, 192)
    assert model(x).shape == (1, 3)


@pytest.mark.parametrize('name', ['convnext-t', 'swin-t', 'vit-b16'])
def test_ready_backbone_configs(tmp_path, name):
    """Each config builds (no weight download) and runs one forward (on a
    small image; Swin's 7 x 7 windows need >= 224 px)."""
    path = osp.join(REPO, 'configs', 'ldrnet', f'ldr_{name}_nih_stage1.py')
    cfg = Config.fromfile(path)
    base = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet',
                                    'ldr_r50_nih_stage1.py'))
    assert cfg.train_dataloader == base.train_dataloader
    assert cfg.optim_wrapper == base.optim_wrapper
    cache = str(tmp_path / 'nih.pth')
    write_prompt_cache(cache, NIH_CLASSES, num_tokens=4, dims=8)
    cfg.model.backbone.init_cfg = None
    cfg.model.neck.prompt_cache = cache
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        size = 224 if name == 'swin-t' else 64
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 14)


@pytest.mark.parametrize('backbone, channels, size', [
    # timm ViT with features_only=True: an NCHW patch map
    (dict(model_name='vit_tiny_patch16_224', img_size=32, depth=1,
          features_only=True, out_indices=(-1, )), 192, 32),
    # timm Swin gives channels-last (B, H, W, C) maps, also features_only
    (dict(model_name='swin_tiny_patch4_window7_224', depths=(1, 1, 1, 1),
          features_only=True, out_indices=(-1, )), 768, 224),
])
def test_timm_feature_maps(cache, backbone, channels, size):
    model = ldr_model(cache, dict(type='TIMMBackbone', pretrained=False,
                                  **backbone), channels)
    x = torch.randn(1, 3, size, size)
    assert model(x).shape == (1, 3)
    _, attn, hw = model.neck.forward_attention(model.backbone(x))
    assert attn.shape == (1, 3) + hw
