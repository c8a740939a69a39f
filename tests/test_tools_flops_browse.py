"""tools/analysis_tools/get_flops.py (and ldr_mm.utils.flops, which counts
what torch's counter misses on CPU) and browse_dataset.py (issue 14.4)."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from conftest import write_tiny_config
from inference_helpers import load_tool, png_stats

from ldr_mm.utils.flops import count_flops


def test_cpu_attention_is_counted():
    B, H, L, S, E = 2, 4, 30, 50, 16
    q = torch.randn(B, H, L, E, requires_grad=True)
    k = torch.randn(B, H, S, E, requires_grad=True)
    total, _ = count_flops(F.scaled_dot_product_attention, q, k, k)
    assert total == 4 * B * H * L * S * E  # QK^T and AV, 2 FLOPs per MAC

    def step():
        F.scaled_dot_product_attention(q, k, k).sum().backward()
    assert count_flops(step)[0] > 2 * total


def test_transformer_layer_fast_path_is_counted():
    """Eval mode without grad takes a fused kernel torch does not count."""
    B, L, D, FF = 2, 20, 64, 128
    layer = torch.nn.TransformerEncoderLayer(D, 4, dim_feedforward=FF,
                                             batch_first=True).eval()
    x = torch.randn(B, L, D)
    with torch.no_grad():
        total, _ = count_flops(layer, x)
    expected = (2 * B * L * D * 3 * D + 4 * B * L * L * D + 2 * B * L * D * D
                + 2 * 2 * B * L * D * FF)
    assert total == expected
    assert torch.backends.mha.get_fastpath_enabled()  # restored


def test_get_flops_tool(demo_root, tmp_path, capsys):
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root,
                            str(tmp_path / 'w'))
    tool = load_tool('analysis_tools/get_flops.py')
    res = tool.main([cfg, '--shape', '64', '--batch', '2'])
    assert res['shape'] == (64, 64)
    neck = res['per_module']['LDRClassifier.neck']
    backbone = res['per_module']['LDRClassifier.backbone']
    assert neck > 0 and backbone > neck
    assert res['flops'] == res['per_module']['Global'] >= neck + backbone
    # linear in the batch, plus the batch-independent prompt MLP
    res1 = tool.main([cfg, '--shape', '64', '--batch', '1'])
    res3 = tool.main([cfg, '--shape', '64', '--batch', '3'])
    per_image = res['flops'] - res1['flops']
    assert res3['flops'] - res['flops'] == per_image
    assert 0 < res1['flops'] - per_image < 0.05 * per_image
    train = tool.main([cfg, '--shape', '64', '--batch', '2', '--mode',
                       'train'])
    assert train['flops'] > 2 * res['flops']  # forward + backward
    out = capsys.readouterr().out
    assert 'LDRClassifier.neck' in out and 'Params: ' in out


def test_browse_dataset(demo_root, tmp_path, capsys):
    from ldr_mm.datasets.demo import DEMO_CLASSES
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root,
                            str(tmp_path / 'w'))
    tool = load_tool('analysis_tools/browse_dataset.py')
    out = tmp_path / 'browse'
    files = tool.main([cfg, '--split', 'val', '--num', '3', '--output-dir',
                       str(out)])
    assert len(files) == 3 == len(glob.glob(str(out / '*.png')))
    h, w, std, colours = png_stats(files[0])
    assert (w, h) == (640, 410) and std > 5 and colours > 20
    one = tool.main([cfg, '--split', 'val', '--num', '2', '--mode',
                     'transformed', '--classes', DEMO_CLASSES[-1],
                     '--output-dir', str(tmp_path / 'b2')])
    assert 1 <= len(one) <= 2
    assert png_stats(one[0])[1] == 320  # one panel
    with pytest.raises(SystemExit, match='not dataset classes'):
        tool.main([cfg, '--classes', 'nope', '--output-dir',
                   str(tmp_path / 'b3')])
    assert 'Wrote 3 picture(s)' in capsys.readouterr().out
    assert osp.basename(files[0]).startswith('000000_')
