"""tools/deployment/export.py: the exported ONNX / TorchScript model gives
PyTorch's probabilities (to 1e-4) on real images, for any batch size.

References are computed without ldr_mm.deployment: the config's test
pipeline (mmpretrain TRANSFORMS) and data preprocessor turn image files into
the normalised batch; the model is MODELS.build + load_state_dict;
probabilities are the temperature-calibrated sigmoid of ``mode='tensor'``.
"""
import glob
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO, write_prompt_cache
from inference_helpers import load_tool, make_tiny_run, reference_model

TOL = 1e-4


def normalised_batch(cfg, model, paths) -> torch.Tensor:
    """Image files -> (B, 3, H, W) through the config's test pipeline and
    the model's data preprocessor."""
    from mmcv.transforms import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    inputs = [pipeline(dict(img_path=p))['inputs'] for p in paths]
    with torch.no_grad():
        return model.data_preprocessor(dict(inputs=inputs), False)['inputs']


def reference(cfg, checkpoint, paths, scale=None, bias=None):
    """(normalised batch, probabilities) of the PyTorch model."""
    model = reference_model(cfg, checkpoint)
    x = normalised_batch(cfg, model, paths)
    with torch.no_grad():
        logits = model(x, mode='tensor').double()
    C = logits.shape[1]
    scale = torch.ones(C) if scale is None else torch.tensor(scale)
    bias = torch.zeros(C) if bias is None else torch.tensor(bias)
    return x.numpy(), torch.sigmoid(logits * scale + bias).numpy()


def assert_matches(run, path, x, ref):
    """Exported model on batches of 1 and 3 (and all) equals ``ref``."""
    for rows in ([0], [0, 1, 2], list(range(len(x)))):
        out = run(path, np.ascontiguousarray(x[rows]))
        assert out.shape == ref[rows].shape
        np.testing.assert_allclose(out, ref[rows], atol=TOL, rtol=0)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return make_tiny_run(str(tmp_path_factory.mktemp('export')))


def decision_file(path, classes, temperature):
    """A decision file (format of ldr_mm.evaluation.thresholds) with a
    per-class temperature calibration."""
    from ldr_mm.evaluation import save_thresholds
    save_thresholds(path, classes, np.linspace(0.2, 0.6, len(classes)),
                    'f1', calibration=[
                        dict(method='temperature', temperature=float(t))
                        for t in temperature])
    return path


@pytest.mark.slow
def test_resnet_onnx_and_torchscript_match_pytorch(tiny, tmp_path):
    """ResNet (the demo config, trained 2 iterations by tools/train.py),
    with a temperature calibration: ONNX and TorchScript files equal the
    calibrated PyTorch probabilities on the demo's test images."""
    from mmengine.config import Config

    from ldr_mm.datasets.demo import DEMO_CLASSES
    from ldr_mm.deployment.export import run_onnx, run_torchscript
    tool = load_tool('deployment/export.py')
    classes = list(DEMO_CLASSES)
    temp = np.linspace(0.5, 2.0, len(classes))
    dec = decision_file(str(tmp_path / 'dec.json'), classes, temp)
    paths = sorted(glob.glob(osp.join(tiny.root, '**', '*.png'),
                             recursive=True))[:5]
    assert len(paths) == 5
    cfg = Config.fromfile(tiny.config)
    x, ref = reference(cfg, tiny.checkpoint, paths, scale=1 / temp)
    for fmt, name, run in (('onnx', 'm.onnx', run_onnx),
                           ('torchscript', 'm.pt', run_torchscript)):
        out = str(tmp_path / name)
        info = tool.main([tiny.config, tiny.checkpoint, '--format', fmt,
                          '--out', out, '--decision-file', dec,
                          '--shape', '64'])
        assert_matches(run, out, x, ref)
        side = json.load(open(out + '.json'))
        assert side == json.loads(json.dumps(info))
        assert side['classes'] == classes
        assert side['input']['shape'] == ['batch', 3, 64, 64]
        assert side['input']['mean'] == list(cfg.data_preprocessor.mean)
        assert side['input']['std'] == list(cfg.data_preprocessor.std)
        assert side['input']['channel_order'] == 'RGB'
        assert side['thresholds'] == pytest.approx(
            np.linspace(0.2, 0.6, len(classes)))
        assert [m['temperature'] for m in side['calibration']['maps']] == \
            pytest.approx(temp)
        assert side['versions']['torch'] == torch.__version__
        assert side['checkpoint']['iter'] == 2
        assert side['check']['max_abs_diff'] < TOL
        if fmt == 'onnx':
            import onnxruntime
            assert side['versions']['onnxruntime'] == onnxruntime.__version__


def dicom_images(tmp_path):
    """Three real DICOM files shipped with pydicom."""
    from pydicom.data import get_testdata_file
    out = []
    for name in ('CT_small.dcm', 'MR_small.dcm', 'MR_small_RLE.dcm'):
        dst = str(tmp_path / name)
        shutil.copy(get_testdata_file(name, download=False), dst)
        out.append(dst)
    return out


TRANSFORMERS = {
    # ViT-B/16 of the config at 64 px (4 x 4 patches)
    'vit-b16': (['model.backbone.img_size=64'], 64),
    # Swin-T's 7 x 7 windows need 224 px; fails without export_patches()
    # (MMPretrain's window_reverse fixes the batch size in the trace)
    'swin-t': (['model.backbone.img_size=224'], 224),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(TRANSFORMERS))
def test_transformer_onnx_matches_pytorch(tmp_path, name):
    """A transformer backbone config (random init), through its own test
    pipeline (resize + centre crop, shrunk by --cfg-options) on pydicom's
    DICOM images: ONNX equals PyTorch for batches of 1 and 3."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    from ldr_mm.deployment.export import run_onnx
    from ldr_mm.utils import config_classes
    config = osp.join(REPO, 'configs', 'ldrnet', f'ldr_{name}_nih_stage1.py')
    extra, size = TRANSFORMERS[name]
    cfg = Config.fromfile(config)
    classes = list(config_classes(cfg))
    cache = str(tmp_path / 'prompt.pth')
    write_prompt_cache(cache, classes, num_tokens=4, dims=16)
    # the config's Resize (512) + CenterCrop (448), shrunk
    opts = ['model.backbone.init_cfg=None', f'model.neck.prompt_cache={cache}',
            f'test_dataloader.dataset.pipeline.1.scale=({size + 8},'
            f'{size + 8})',
            f'test_dataloader.dataset.pipeline.2.crop_size={size}'] + extra
    tool = load_tool('deployment/export.py')
    cfg.merge_from_dict(tool.parse_args(
        [config, 'ckpt', '--out', 'm', '--cfg-options'] + opts).cfg_options)
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'random.pth')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), ckpt)
    x, ref = reference(cfg, ckpt, dicom_images(tmp_path))
    assert x.shape == (3, 3, size, size)
    out = str(tmp_path / 'm.onnx')
    info = tool.main(
        [config, ckpt, '--out', out, '--cfg-options'] + opts)
    assert info['input']['shape'] == ['batch', 3, size, size]  # pipeline's
    assert_matches(run_onnx, out, x, ref)


def test_probability_model_applies_the_decision_files_maps(tmp_path):
    """The exported module calibrates with the decision file's maps
    (temperature, Platt, isotonic) exactly as the decision file's own
    ``calibrate`` does on sigmoid(logits); other classes are refused."""
    from ldr_mm.evaluation import (ThresholdFileError, load_decision_file,
                                   save_thresholds)
    from ldr_mm.deployment import ProbabilityModel
    classes = ['a', 'b', 'c']
    maps = [dict(method='temperature', temperature=2.0),
            dict(method='platt', a=1.5, b=-0.5),
            dict(method='isotonic', x=[0.1, 0.5, 0.9], y=[0.05, 0.4, 0.95])]
    path = str(tmp_path / 'd.json')
    save_thresholds(path, classes, [0.5, 0.5, 0.5], 'f1', calibration=maps)
    dec = load_decision_file(path, classes)
    with pytest.raises(ThresholdFileError, match='made for'):
        load_decision_file(path, ['a', 'c', 'b'])

    class Logits(torch.nn.Module):
        head = type('H', (), dict(num_classes=3))()

        def forward(self, x, mode='tensor'):
            return x

    logits = torch.randn(7, 3, dtype=torch.float64) * 3
    got = ProbabilityModel(Logits(), dec.calibration)(logits.float())
    want = dec.calibrate(torch.sigmoid(logits).numpy())
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    plain = ProbabilityModel(Logits())(logits.float())
    np.testing.assert_allclose(plain.numpy(), torch.sigmoid(logits).numpy(),
                               atol=1e-6)


def test_export_tool_arguments(tmp_path, capsys):
    """--help works; a config whose pipeline fixes no input size asks for
    --shape in one line, before any checkpoint is read."""
    from conftest import STAGE1_DEMO_CFG
    tool = load_tool('deployment/export.py')
    with pytest.raises(SystemExit) as e:
        tool.parse_args(['--help'])
    assert e.value.code == 0
    assert '--decision-file' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='give --shape H W'):
        tool.main([STAGE1_DEMO_CFG, str(tmp_path / 'none.pth'), '--out',
                   str(tmp_path / 'm.onnx')])
    with pytest.raises(SystemExit, match='does not exist|No such file'):
        tool.main([STAGE1_DEMO_CFG, str(tmp_path / 'none.pth'), '--out',
                   str(tmp_path / 'm.onnx'), '--shape', '32'])


def test_swin_trace_keeps_the_batch_dynamic():
    """MMPretrain's Swin window_reverse fixes the traced batch size; with
    export_patches() a trace at batch 2 is right at batch 3 (fails without
    the patch: checked below on the unpatched trace), and the original
    method is restored afterwards."""
    from mmpretrain.models import SwinTransformer
    from mmpretrain.models.utils.attention import ShiftWindowMSA

    from ldr_mm.deployment.patches import export_patches
    torch.manual_seed(0)
    swin = SwinTransformer(arch=dict(embed_dims=16, depths=[2, 2],
                                     num_heads=[2, 2]),
                           img_size=32, window_size=4,
                           out_indices=(1, ))
    swin.eval()  # (Swin's train() returns None)
    original = ShiftWindowMSA.__dict__['window_reverse']
    x2, x3 = torch.randn(2, 3, 32, 32), torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ref = swin(x3)[0]
        with export_patches():
            patched = torch.jit.trace(swin, x2, check_trace=False)
        assert ShiftWindowMSA.__dict__['window_reverse'] is original
        torch.testing.assert_close(patched(x3)[0], ref)
        unpatched = torch.jit.trace(swin, x2, check_trace=False)
        try:  # batch 2 baked into a view: an error or wrong values
            out = unpatched(x3)[0]
            wrong = out.shape != ref.shape or not torch.allclose(
                out, ref, atol=1e-4)
        except RuntimeError:
            wrong = True
        assert wrong
