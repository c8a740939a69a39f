"""LDRNeck: shapes, label-position selection, prompt handling, backbones."""
import math
import os.path as osp

import pytest
import torch

from mmpretrain.registry import MODELS

from conftest import TINY_BACKBONE, write_prompt_cache
from ldr_mm.models import LDRNeck
from ldr_mm.prompts import PromptCacheError

CLASSES = ['a', 'b_c', 'd']


@pytest.fixture
def cache(tmp_path):
    path = str(tmp_path / 'p.pth')
    write_prompt_cache(path, CLASSES, num_tokens=5, dims=12)
    return path


def make_neck(cache, **kw):
    args = dict(in_channels=16, num_classes=3, prompt_cache=cache,
                num_heads=4, dropout=0.0)
    args.update(kw)
    neck = LDRNeck(**args)
    neck.init_weights()
    return neck.eval()


def test_output_shape_and_width_defaults(cache):
    neck = make_neck(cache)
    out = neck((torch.randn(2, 16, 3, 4), ))
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].shape == (2, 3, 16)  # D defaults to in_channels
    assert neck.num_prompt_tokens == 5
    assert isinstance(neck.input_proj, torch.nn.Identity)


def test_projection_when_width_differs(cache):
    neck = make_neck(cache, embed_dims=8)
    assert isinstance(neck.input_proj, torch.nn.Conv2d)
    assert neck((torch.randn(2, 16, 2, 2), ))[0].shape == (2, 3, 8)


@pytest.mark.parametrize('num_layers', [1, 2])
def test_selects_the_label_positions(cache, num_layers):
    """x_class equals a standard encoder's output at positions M..M+C-1.

    The reference runs every layer as a plain nn.TransformerEncoderLayer
    over the whole sequence; the neck evaluates its last layer at the label
    positions only, which must give the same numbers.
    """
    neck = make_neck(cache, num_layers=num_layers)
    feats = (torch.randn(2, 16, 3, 3), )
    x_class = neck(feats)[0]
    full = neck._tokens(feats)
    for layer in neck.layers:
        full = layer(full)
    M, C = neck.num_prompt_tokens, 3
    assert full.shape == (2, M + C + 9, 16)
    torch.testing.assert_close(x_class, full[:, M:M + C])
    # and not the prompt or image positions
    assert not torch.allclose(x_class, full[:, :C])
    assert not torch.allclose(x_class, full[:, -C:])


def test_query_is_eq2(cache):
    """Q = [MLP(E_w) + I_w ; E_l + I_l] + P (Eq. 2), with parameters set to
    values whose result is worked out by hand: the MLP's first layer copies
    word dimension 0 into every hidden unit (x -> GELU(x) = x Phi(x)), its
    second layer is the identity; indicators 1 (words) and 0.5 (labels);
    label embedding c = c; position p = 0.25 p."""
    neck = make_neck(cache)
    D = 16
    first, second = neck.word_mlp[0], neck.word_mlp[2]
    with torch.no_grad():
        first.weight.zero_()
        first.weight[:, 0] = 1.0
        first.bias.zero_()
        second.weight.copy_(torch.eye(D))
        second.bias.zero_()
        neck.word_indicator.fill_(1.0)
        neck.label_embed.copy_(torch.arange(3.0)[:, None].expand(3, D))
        neck.label_indicator.fill_(0.5)
        neck.query_pos.copy_(0.25 * torch.arange(8.0)[:, None].expand(8, D))
    q = neck.build_query()
    assert q.shape == (5 + 3, D)
    x = torch.load(cache, weights_only=True)['embeddings'][:, 0].tolist()
    for p in range(5):  # prompt tokens
        gelu = 0.5 * x[p] * (1 + math.erf(x[p] / math.sqrt(2)))
        assert q[p].tolist() == pytest.approx([gelu + 1 + 0.25 * p] * D,
                                              abs=1e-6)
    # labels c = 0, 1, 2 at positions 5, 6, 7: c + 0.5 + 0.25 (5 + c)
    for c, want in enumerate([1.75, 3.0, 4.25]):
        assert q[5 + c].tolist() == pytest.approx([want] * D)


def test_class_feature_follows_its_label_embedding(cache):
    """Changing label embedding c changes feature c more than the others."""
    torch.manual_seed(0)
    neck = make_neck(cache)
    x = (torch.randn(1, 16, 2, 2), )
    before = neck(x)[0]
    with torch.no_grad():  # a random direction (LayerNorm removes shifts)
        neck.label_embed[1] += 3 * torch.randn(
            16, generator=torch.Generator().manual_seed(1))
    after = neck(x)[0]
    delta = (after - before).abs().sum(-1)[0]
    assert delta[1] > max(delta[0], delta[2])


def test_no_prompt_ablation():
    neck = LDRNeck(in_channels=16, num_classes=3, use_prompt=False,
                   num_heads=4)
    neck.init_weights()
    assert neck.num_prompt_tokens == 0
    assert not hasattr(neck, 'word_embeddings')
    assert neck.build_query().shape == (3, 16)
    assert neck((torch.randn(2, 16, 2, 2), ))[0].shape == (2, 3, 16)


def test_prompt_embeddings_are_saved_with_the_model(cache):
    neck = make_neck(cache)
    assert 'word_embeddings' in neck.state_dict()


def test_attention_maps_sum_to_one(cache):
    neck = make_neck(cache)
    x = (torch.randn(2, 16, 3, 5), )
    x_class, attn, hw = neck.forward_attention(x)
    assert hw == (3, 5) and attn.shape == (2, 3, 3, 5)
    torch.testing.assert_close(attn.sum((-2, -1)), torch.ones(2, 3))
    torch.testing.assert_close(x_class, neck(x)[0])
    # the same weights as the full layer's attention, renormalised
    tokens = neck._tokens(x)
    _, w = neck.layers[-1].self_attn(tokens, tokens, tokens,
                                     need_weights=True)
    ref = w[:, 5:8, 8:]
    ref = ref / ref.sum(-1, keepdim=True)
    torch.testing.assert_close(attn.flatten(2), ref)


def test_train_mode_gradients_reach_all_parts(cache):
    torch.manual_seed(0)
    neck = make_neck(cache, num_layers=2).train()
    out = neck(((torch.randn(2, 16, 2, 2)), ))[0]
    # a weighted sum: the plain sum of a LayerNorm output has an exactly zero
    # gradient for the parameters before it (the test passed by round-off)
    (out * torch.randn_like(out)).sum().backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kw, match', [
    (dict(prompt_cache=None), 'needs `prompt_cache`'),
    (dict(embed_dims=10), 'not divisible by num_heads'),
    (dict(num_classes=4), 'num_classes=4'),
    (dict(classes=['x', 'y', 'z']), 'made for the classes'),
])
def test_construction_errors(cache, kw, match):
    with pytest.raises((ValueError, PromptCacheError), match=match):
        make_neck(cache, **kw)


def test_missing_cache_prints_command(tmp_path):
    with pytest.raises(PromptCacheError) as e:
        LDRNeck(in_channels=16, num_classes=3,
                prompt_cache=str(tmp_path / 'nope.pth'))
    assert 'extract_prompt_embeddings.py' in str(e.value)
    assert 'nope.pth' in str(e.value)


def test_wrong_input_errors(cache):
    neck = make_neck(cache)
    with pytest.raises(ValueError, match='neck.in_channels=32'):
        neck((torch.randn(1, 32, 2, 2), ))
    with pytest.raises(ValueError, match='spatial feature map'):
        neck((torch.randn(1, 16), ))


@pytest.mark.parametrize('backbone, channels', [
    (TINY_BACKBONE, 64),
    (dict(type='ResNet', depth=50, stem_channels=8, base_channels=4,
          out_indices=(3, )), 128),
    (dict(type='DenseNet', arch=dict(growth_rate=8, depths=[2, 2, 2, 2],
                                     init_channels=16)), 32),
    (dict(type='EfficientNet', arch='b0'), 1280),
    (dict(type='ConvNeXt', arch=dict(depths=[1, 1, 1, 1],
                                     channels=[8, 16, 24, 32]),
          gap_before_final_norm=False), 32),
])
def test_backbone_swap_by_config(tmp_path, backbone, channels):
    """Only model.backbone and model.neck.in_channels change per backbone."""
    cache = str(tmp_path / 'p.pth')
    write_prompt_cache(cache, CLASSES, num_tokens=4, dims=8)
    heads = 4 if channels % 4 == 0 else 2
    model = MODELS.build(
        dict(type='LDRClassifier',
             backbone=backbone,
             neck=dict(type='LDRNeck', in_channels=channels,
                       prompt_cache=cache, num_heads=heads),
             head=dict(type='LDRHead', num_classes=3)))
    model.init_weights()
    model.eval()
    feats = model.extract_feat(torch.randn(2, 3, 64, 64))
    assert feats[0].shape == (2, 3, channels)
    assert model.head.in_channels == channels
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)


def test_gap_residual_adds_the_pooled_feature(cache):
    """x_class = encoder output + GAP of the (projected) image tokens; the
    pooled feature is taken before the position encoding."""
    torch.manual_seed(0)
    plain = make_neck(cache, embed_dims=8)
    torch.manual_seed(0)
    res = make_neck(cache, embed_dims=8, gap_residual=True)
    res.load_state_dict(plain.state_dict(), strict=False)
    feats = (torch.randn(2, 16, 3, 4), )
    pooled = plain.input_proj(feats[0]).mean((2, 3))  # (B, D)
    expected = plain(feats)[0] + pooled[:, None, :]
    assert torch.allclose(res(feats)[0], expected, atol=1e-6)
    # the attention path gives the same class-aware features
    x_class, attn, _ = res.forward_attention(feats)
    assert torch.allclose(x_class, expected, atol=1e-6)
    # the marker buffer keeps checkpoints of both kinds apart
    assert 'gap_residual_on' in res.state_dict()
    with pytest.raises(RuntimeError, match='gap_residual_on'):
        res.load_state_dict(plain.state_dict())
    with pytest.raises(RuntimeError, match='gap_residual_on'):
        plain.load_state_dict(res.state_dict())


def test_gap_residual_gradient_reaches_backbone_map_directly(cache):
    """With the residual, class c's logit depends on the pooled map even if
    the encoder output ignored it: d x_class / d X = 1/HW per position."""
    neck = make_neck(cache, gap_residual=True, pos_encoding='none')
    x = torch.randn(1, 16, 2, 2, requires_grad=True)
    with torch.no_grad():
        for p in neck.layers.parameters():
            p.zero_()  # encoder output = LayerNorm bias = 0
    out = neck((x, ))[0]
    assert torch.allclose(out[0, 1], x[0].mean((1, 2)), atol=1e-6)


def test_gap_concat_appends_the_pooled_feature(cache):
    """gap_residual='concat': x_class = [encoder output ; GAP] (B, C, 2D),
    the head gets 2D inputs, and the logit splits into a decoupled and a
    plain GAP + linear part with weights of their own."""
    torch.manual_seed(0)
    plain = make_neck(cache, embed_dims=8)
    torch.manual_seed(0)
    cat = make_neck(cache, embed_dims=8, gap_residual='concat')
    assert (plain.out_channels, cat.out_channels) == (8, 16)
    cat.load_state_dict(plain.state_dict(), strict=False)
    feats = (torch.randn(2, 16, 3, 4), )
    pooled = plain.input_proj(feats[0]).mean((2, 3))  # (B, D)
    enc = plain(feats)[0]  # (B, C, D)
    out = cat(feats)[0]
    assert out.shape == (2, 3, 16)
    assert torch.allclose(out[..., :8], enc, atol=1e-6)
    assert torch.allclose(out[..., 8:], pooled[:, None].expand(-1, 3, -1))
    x_class, _, _ = cat.forward_attention(feats)
    assert torch.allclose(x_class, out, atol=1e-6)
    # every mode keeps its own checkpoints
    res = make_neck(cache, embed_dims=8, gap_residual='add')
    assert 'gap_concat_on' in cat.state_dict()
    for a, b in [(cat, plain), (plain, cat), (cat, res), (res, cat)]:
        with pytest.raises(RuntimeError, match='gap_(concat|residual)_on'):
            a.load_state_dict(b.state_dict())
    with pytest.raises(ValueError, match="gap_residual must be"):
        make_neck(cache, embed_dims=8, gap_residual='sum')


def test_gap_concat_head_width_and_logit(cache):
    """LDRClassifier gives the head the neck's out_channels (2D); the
    second half of every class's feature is the backbone map's GAP."""
    model = MODELS.build(
        dict(type='LDRClassifier', backbone=TINY_BACKBONE,
             neck=dict(type='LDRNeck', in_channels=64, prompt_cache=cache,
                       num_heads=4, gap_residual='concat'),
             head=dict(type='LDRHead', num_classes=3)))
    model.init_weights()
    model.eval()
    assert model.head.in_channels == 128
    assert model.head.weight.shape == (3, 128)
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        x = model.extract_feat(img)[0]
        gap = model.backbone(img)[-1].mean((2, 3))  # D = D_in: no projection
        assert x.shape == (2, 3, 128)
        assert torch.allclose(x[..., 64:], gap[:, None].expand(-1, 3, -1),
                              atol=1e-6)
        assert model(img).shape == (2, 3)


@pytest.mark.parametrize('std', [0.02, 1.0])
def test_label_init_std(cache, std):
    torch.manual_seed(0)
    neck = LDRNeck(in_channels=256, num_classes=64, prompt_cache=None,
                   use_prompt=False, label_init_std=std)
    neck.init_weights()
    assert abs(neck.label_embed.std().item() - std) < 0.1 * std
    with pytest.raises(ValueError, match='label_init_std'):
        LDRNeck(in_channels=16, num_classes=3, use_prompt=False,
                label_init_std=0)
