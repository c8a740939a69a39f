"""Pretrained backbone weights without internet (docs/weights.md).

Offline (sockets blocked, an empty torch hub cache), every config's default
ImageNet init fails with one line naming ``init_cfg`` and the local-file
option; a local file in torchvision, timm, MMPretrain or safetensors layout,
written from a randomly initialised model, loads through the same config key
and gives the file's weights (for renamed layouts: the same features as the
source model).
"""
import glob
import os.path as osp
import re
import socket

import pytest
import torch
from conftest import REPO, TINY_BACKBONE, load_tiny_cfg
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from ldr_mm.models.weight_init import PretrainedWeightsError

# config file defining a Pretrained init -> a config that builds a model
# with it (every backbone of configs/)
DEFINERS = {
    '_base_/models/backbones/resnet50_in1k.py': [
        'ldrnet/ldr_r50_nih_stage1.py', 'baselines/bce_r50_nih.py'],
    '_base_/models/ldr_d121.py': ['ldrnet/ldr_d121_nih_stage1.py'],
    '_base_/models/baseline_d121.py': ['_base_/models/baseline_d121.py'],
    'ldrnet/ldr_swin-t_nih_stage1.py': ['ldrnet/ldr_swin-t_nih_stage1.py'],
    'ldrnet/ldr_vit-b16_nih_stage1.py': ['ldrnet/ldr_vit-b16_nih_stage1.py'],
    'ldrnet/ldr_convnext-t_nih_stage1.py': [
        'ldrnet/ldr_convnext-t_nih_stage1.py'],
}
CONFIGS = sorted({c for cs in DEFINERS.values() for c in cs})


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network: every connect / name lookup fails; empty hub cache."""
    def refuse(*args, **kwargs):
        raise OSError('network blocked by the test')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    init_default_scope('mmpretrain')
    return tmp_path / 'torch_home'


def build_config_model(name, **backbone):
    """The model of ``configs/<name>`` (prompt-free: only the backbone's
    init matters here), with ``backbone`` keys overridden."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    model = cfg.model
    if model.head.get('num_classes') is None:
        model.head.num_classes = 5
    if 'use_prompt' in model.get('neck', {}) or model.neck.type == 'LDRNeck':
        model.neck.use_prompt = False
    model.backbone.update(backbone)
    return MODELS.build(model)


def test_every_pretrained_init_in_configs_is_tested():
    found = set()
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                          recursive=True):
        with open(path) as f:
            if "type='Pretrained'" in f.read():
                found.add(osp.relpath(path, osp.join(REPO, 'configs')))
    assert found == set(DEFINERS)


@pytest.mark.parametrize('name', CONFIGS)
def test_offline_default_init_fails_in_one_line(offline, name):
    model = build_config_model(name)
    with pytest.raises(PretrainedWeightsError) as info:
        model.init_weights()
    msg = str(info.value)
    assert '\n' not in msg
    assert 'init_cfg' in msg and 'model.backbone.init_cfg.checkpoint=' in msg
    assert 'local file' in msg and 'https://download.openmmlab.com' in msg
    # no urllib / socket traceback chained to it
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not glob.glob(str(offline / 'hub' / 'checkpoints' / '*'))


def test_train_tool_prints_one_line_offline(offline, demo_root, tmp_path):
    from tools.train import main
    url = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
           'resnet18_8xb32_in1k_20210831-fbbb1da6.pth')
    cfg = load_tiny_cfg(demo_root, str(tmp_path / 'work'))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=url,
                                       prefix='backbone')
    cfg.dump(str(tmp_path / 'cfg.py'))
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path / 'cfg.py')])
    msg = str(info.value.code)
    assert msg.startswith('tools/train.py: Could not download')
    assert '\n' not in msg and 'init_cfg' in msg and url in msg


def test_train_tool_starts_from_a_local_file(offline, demo_root, tmp_path):
    """The same key with a local .safetensors file: training runs offline."""
    from tools.train import main
    torch.manual_seed(5)
    src = MODELS.build(TINY_BACKBONE).state_dict()
    path = _save(src, tmp_path / 'tiny.safetensors')
    work = tmp_path / 'work'
    cfg = load_tiny_cfg(demo_root, str(work), max_iters=1, val_interval=1,
                        ckpt_interval=1)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path,
                                       prefix='backbone')
    cfg.dump(str(tmp_path / 'cfg.py'))
    main([str(tmp_path / 'cfg.py')])
    logs = glob.glob(str(work / '*' / '*.log'))
    with open(logs[0]) as f:
        assert f'Loaded ResNet from {path}' in f.read()
    # a real MMEngine checkpoint (message hub, optimizer state) as the next
    # run's backbone init: read weights-only, backbone.* selected
    ckpt = str(work / 'iter_1.pth')
    trained = torch.load(ckpt, map_location='cpu', weights_only=True)
    want = {k[len('backbone.'):]: v
            for k, v in trained['state_dict'].items()
            if k.startswith('backbone.')}
    _assert_same_weights(_load_into(TINY_BACKBONE, ckpt), want)


# -- local files in each layout ------------------------------------------


def _save(state_dict, path):
    if str(path).endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state_dict.items()},
                  str(path))
    else:
        torch.save(state_dict, str(path))
    return str(path)


def _mmpretrain_checkpoint(backbone_cfg, path):
    """An MMPretrain checkpoint: ``state_dict`` with ``backbone.`` keys, a
    classifier head and ``meta``; returns (path, backbone state dict)."""
    torch.manual_seed(1)
    sd = MODELS.build(backbone_cfg).state_dict()
    state = {'backbone.' + k: v for k, v in sd.items()}
    state['head.fc.weight'] = torch.randn(10, 4)
    torch.save({'meta': {'epoch': 3, 'mmpretrain_version': '1.2.0'},
                'state_dict': state}, str(path))
    return str(path), sd


def _load_into(backbone_cfg, path):
    torch.manual_seed(2)
    module = MODELS.build(dict(backbone_cfg, init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='backbone')))
    module.init_weights()
    module.eval()  # some MMPretrain backbones' train() returns None
    return module


def _assert_same_weights(module, expected):
    got = module.state_dict()
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


MM_BACKBONES = {
    'resnet': dict(type='ResNet', depth=18, out_indices=(3, )),
    'densenet': dict(type='DenseNet', arch='121'),
    'convnext': dict(type='ConvNeXt', arch='atto', out_indices=(3, ),
                     gap_before_final_norm=False),
    'swin': dict(type='SwinTransformer', arch='tiny', out_indices=(3, )),
    'vit': dict(type='VisionTransformer', arch='deit-t', out_type='raw'),
    'vit-small': dict(type='VisionTransformer', out_type='raw', arch=dict(
        embed_dims=192, num_layers=2, num_heads=3, feedforward_channels=768)),
}


@pytest.mark.parametrize('kind', sorted(MM_BACKBONES))
def test_mmpretrain_checkpoint_loads(kind, tmp_path):
    init_default_scope('mmpretrain')
    cfg = MM_BACKBONES[kind]
    path, expected = _mmpretrain_checkpoint(cfg, tmp_path / 'mm.pth')
    _assert_same_weights(_load_into(cfg, path), expected)


def _randomise(model):
    """Random norms, biases, layer scales and BN statistics: their default
    init (1, 0, 1e-6) would hide a swapped or dropped key."""
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(
                model.named_buffers()):
            if name.endswith('running_var'):
                t.uniform_(0.5, 1.5)
            elif t.is_floating_point() and (t.dim() == 1 or 'layer_scale'
                                            in name):
                t.normal_()
    model.eval()
    return model


def _timm(name):
    timm = pytest.importorskip('timm')
    torch.manual_seed(3)
    return _randomise(timm.create_model(name, pretrained=False))


def _tv(name):
    import torchvision
    torch.manual_seed(3)
    return _randomise(getattr(torchvision.models, name)(weights=None))


def _cnn_features(src, x):
    if hasattr(src, 'features'):  # DenseNet: features + final ReLU
        return torch.relu(src.features(x))
    return src.forward_intermediates(x, intermediates_only=True)[-1] \
        if hasattr(src, 'forward_intermediates') else \
        torch.nn.Sequential(*list(src.children())[:-2])(x)


def _tv_convnext_atto():
    """torchvision's ConvNeXt class at MMPretrain's 'atto' size."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    torch.manual_seed(3)
    model = ConvNeXt([CNBlockConfig(40, 80, 2), CNBlockConfig(80, 160, 2),
                      CNBlockConfig(160, 320, 6), CNBlockConfig(320, None, 2)])
    return _randomise(model)


def _tv_vit_tiny():
    from torchvision.models.vision_transformer import VisionTransformer
    torch.manual_seed(3)
    return _randomise(VisionTransformer(224, 16, num_layers=2, num_heads=3,
                                        hidden_dim=192, mlp_dim=768))


def _tv_vit_tokens(src, x):
    tokens = src._process_input(x)
    cls = src.class_token.expand(tokens.shape[0], -1, -1)
    return src.encoder(torch.cat([cls, tokens], dim=1))


class _OldKeys:
    """torchvision's downloadable DenseNet file: ``norm.1`` for ``norm1``."""

    def __init__(self, model):
        self.model = model

    def state_dict(self):
        return {re.sub(r'(denselayer\d+\.(norm|conv))([12])\.', r'\1.\3.', k):
                v for k, v in self.model.state_dict().items()}


# (MMPretrain backbone, source model, file name, the source's features as
# MMPretrain's backbone returns them)
SOURCES = {
    'resnet-torchvision': ('resnet', lambda: _tv('resnet18'), 'r18.pth',
                           _cnn_features),
    'resnet-timm-safetensors': ('resnet', lambda: _timm('resnet18'),
                                'model.safetensors', _cnn_features),
    'densenet-torchvision': ('densenet', lambda: _tv('densenet121'),
                             'densenet121.pth', _cnn_features),
    'densenet-torchvision-download': (
        'densenet', lambda: _OldKeys(_tv('densenet121')), 'densenet121.pth',
        lambda s, x: _cnn_features(s.model, x)),
    'convnext-torchvision': (
        'convnext', _tv_convnext_atto, 'convnext.pth',
        lambda s, x: s.classifier[0](s.features(x))),
    'swin-torchvision': (
        'swin', lambda: _tv('swin_t'), 'swin_t.pth',
        lambda s, x: s.norm(s.features(x)).permute(0, 3, 1, 2)),
    'vit-torchvision': ('vit-small', _tv_vit_tiny, 'vit.pth', _tv_vit_tokens),
    'densenet-timm': ('densenet', lambda: _timm('densenet121'),
                      'pytorch_model.bin', _cnn_features),
    'convnext-timm-safetensors': (
        'convnext', lambda: _timm('convnext_atto'), 'model.safetensors',
        lambda s, x: s.head.norm(s.forward_features(x))),
    'swin-timm': ('swin', lambda: _timm('swin_tiny_patch4_window7_224'),
                  'swin.pth',
                  lambda s, x: s.forward_features(x).permute(0, 3, 1, 2)),
    'vit-timm-safetensors': ('vit', lambda: _timm('vit_tiny_patch16_224'),
                             'model.safetensors',
                             lambda s, x: s.forward_features(x)),
}


@pytest.mark.parametrize('source', sorted(SOURCES))
def test_local_torchvision_timm_safetensors_file_loads(source, tmp_path):
    init_default_scope('mmpretrain')
    kind, make, fname, features = SOURCES[source]
    src = make()
    path = _save(src.state_dict(), tmp_path / fname)
    module = _load_into(MM_BACKBONES[kind], path)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        got, want = module(x)[-1], features(src, x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    if kind in ('resnet', 'densenet'):  # same tensors, only renamed
        n_src = sum(1 for k in src.state_dict()
                    if not k.startswith(('fc.', 'classifier.')))
        assert n_src == len(module.state_dict())


def test_resnet50_config_starts_from_a_local_torchvision_file(
        offline, tmp_path):
    """The documented key on a real config: one --cfg-options value."""
    src = _tv('resnet50')
    path = _save(src.state_dict(), tmp_path / 'resnet50.pth')
    model = build_config_model('baselines/bce_r50_nih.py')
    model.backbone.init_cfg['checkpoint'] = path  # as --cfg-options does
    model.init_weights()
    want = {k: v for k, v in src.state_dict().items()
            if not k.startswith('fc.')}
    _assert_same_weights(model.backbone, want)


def test_wrong_architecture_names_the_missing_weights(tmp_path):
    init_default_scope('mmpretrain')
    path = _save(_tv('resnet18').state_dict(), tmp_path / 'r18.pth')
    with pytest.raises(PretrainedWeightsError, match='lacks .* weights'):
        _load_into(MM_BACKBONES['densenet'], path)
    with pytest.raises(PretrainedWeightsError,
                       match='other shapes.*same architecture'):
        _load_into(dict(type='ResNet', depth=18, in_channels=1), path)


def test_missing_local_file_names_init_cfg(tmp_path):
    init_default_scope('mmpretrain')
    with pytest.raises(PretrainedWeightsError,
                       match='init_cfg checkpoint .* does not exist'):
        _load_into(TINY_BACKBONE, str(tmp_path / 'gone.pth'))


def test_strict_false_loads_a_partial_file(tmp_path):
    """MMEngine's lenient loading on request: the file's weights load, the
    others keep their init; with nothing in common it still refuses."""
    init_default_scope('mmpretrain')
    cfg = MM_BACKBONES['resnet']
    torch.manual_seed(4)
    full = MODELS.build(cfg).state_dict()
    part = {k: v for k, v in full.items() if not k.startswith('layer4.')}
    path = _save(part, tmp_path / 'partial.pth')
    with pytest.raises(PretrainedWeightsError, match='strict=False'):
        _load_into(cfg, path)
    module = MODELS.build(dict(cfg, init_cfg=dict(
        type='Pretrained', checkpoint=path, strict=False)))
    module.init_weights()
    _assert_same_weights(module, part)
    other = _save({'x.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    module = MODELS.build(dict(cfg, init_cfg=dict(
        type='Pretrained', checkpoint=other, strict=False)))
    with pytest.raises(PretrainedWeightsError, match='lacks'):
        module.init_weights()


def test_clip_tag_offline_names_the_local_weights_option(offline,
                                                         monkeypatch,
                                                         tmp_path):
    """The prompt cache's CLIP weights: an open_clip tag offline fails in
    one line that names ``--weights`` with a local file."""
    pytest.importorskip('open_clip')
    import huggingface_hub.constants as hf

    from ldr_mm.prompts.clip_embeddings import extract_clip_word_embeddings
    monkeypatch.setattr(hf, 'HF_HUB_CACHE', str(tmp_path / 'hf'))
    monkeypatch.setattr(hf, 'HF_HUB_OFFLINE', True)  # no retries
    with pytest.raises(FileNotFoundError) as info:
        extract_clip_word_embeddings('a b', 'RN50', pretrained='openai')
    msg = str(info.value)
    assert '\n' not in msg and '--weights PATH/TO/' in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__
