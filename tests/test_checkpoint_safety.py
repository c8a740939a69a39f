"""Weights-only loading with an exact allow-list."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from ldr_mm.utils import UnsafeCheckpointError, safe_load_checkpoint


class _RunsCode:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


def test_message_hub_round_trip(tmp_path):
    """What MMEngine stores in checkpoints loads with weights_only=True."""
    hub = MessageHub.get_instance('ckpt_safety_test')
    for i in range(5):
        hub.update_scalar('train/loss', float(i))
    hub.update_info('iter', np.int64(3))
    hub.update_info('eta', np.float64(1.5))
    path = str(tmp_path / 'c.pth')
    torch.save(dict(message_hub=hub.state_dict(),
                    meta=dict(arr=np.arange(3), dtype=np.dtype('float32'))),
               path)
    data = torch.load(path, weights_only=True)
    buf = data['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(2.0) and buf.max() == 4.0
    assert data['meta']['arr'].tolist() == [0, 1, 2]


def test_code_running_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _RunsCode(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match='Refused to load'):
        safe_load_checkpoint(path)
    assert not marker.exists()
    # plain torch.load (what MMEngine calls) refuses it too
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert not marker.exists()


def test_getattr_is_restricted(tmp_path):
    """Only HistoryBuffer statistics methods can be looked up."""

    class Evil:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    path = str(tmp_path / 'evil2.pth')
    with open(path, 'wb') as f:
        torch.save({'x': Evil()}, f)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        safe_load_checkpoint(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        safe_load_checkpoint('nope.pth')


def test_tools_refuse_a_code_running_checkpoint(demo_root, tmp_path):
    """tools/test.py and --resume on a malicious file: clear message, the
    payload never runs."""
    from conftest import write_tiny_config
    from inference_helpers import load_tool
    test_tool = load_tool('test.py')
    train_tool = load_tool('train.py')

    marker = tmp_path / 'pwned'
    evil = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': {}, 'x': _RunsCode(str(marker))},
               evil)
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root,
                            str(tmp_path / 'work'))
    with pytest.raises(SystemExit, match='Refused to load the checkpoint '
                       f'"{evil}".*Nothing in it was executed'):
        test_tool.main([cfg, evil])
    with pytest.raises(SystemExit, match=f'Refused.*"{evil}"'):
        train_tool.main([cfg, '--resume', evil])
    assert not marker.exists()


@pytest.mark.parametrize('kind', ['evil', 'truncated'])
def test_every_weight_loading_tool_exits_with_one_line(demo_root, tmp_path,
                                                       kind):
    """Issue 23.8: tools/infer.py (and visualize_attention, get_flops,
    weight_norms) printed a traceback for a code-running or truncated
    checkpoint; now each exits with tools/test.py's one-line reason."""
    import glob
    from conftest import write_tiny_config
    from inference_helpers import load_tool

    marker = tmp_path / 'pwned'
    ckpt = str(tmp_path / f'{kind}.pth')
    torch.save({'state_dict': {}, 'meta': {}, 'x': _RunsCode(str(marker))},
               ckpt)
    if kind == 'truncated':
        data = open(ckpt, 'rb').read()
        open(ckpt, 'wb').write(data[:len(data) // 2])
        expected = f'^Checkpoint "{ckpt}" is truncated'
    else:
        expected = (f'^Refused to load the checkpoint "{ckpt}".*Nothing in '
                    r'it was executed.*\(.*GLOBAL .*system')
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root,
                            str(tmp_path / 'work'))
    image = sorted(glob.glob(f'{demo_root}/images/test/*.png'))[0]
    runs = [('infer.py', [cfg, ckpt, image, '--no-progress']),
            ('visualize_attention.py', [cfg, ckpt, image, '--out-dir',
                                        str(tmp_path / 'vis'),
                                        '--no-progress']),
            ('analysis_tools/get_flops.py', [cfg, '--checkpoint', ckpt]),
            ('analysis_tools/weight_norms.py', [ckpt, '--out',
                                                str(tmp_path / 'w.png')])]
    for tool, argv in runs:
        with pytest.raises(SystemExit, match=expected) as e:
            load_tool(tool).main(argv)
        assert '\n' not in str(e.value.code), tool
    assert not marker.exists()
