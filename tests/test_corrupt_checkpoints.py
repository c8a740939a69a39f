"""Empty or truncated .pth files: a clear error naming the file in all five
entry points (issue 13, item 7), never a raw ``PytorchStreamReader failed``
or ``EOFError``."""
import glob
import os
import os.path as osp

import pytest
import torch

from inference_helpers import load_tool
from ldr_mm.utils import CorruptCheckpointError, safe_load_checkpoint
from stage2_helpers import build_model, stage1_cfg, stage2_cfg, stage2_root

__all__ = ['stage2_root']  # the fixture

TRUNCATED = 'truncated or corrupt'
EMPTY = r'empty \(0 bytes\)'


@pytest.fixture(scope='module')
def broken(stage2_root, tmp_path_factory):
    """A config, its good checkpoint, an empty and a truncated copy."""
    base = tmp_path_factory.mktemp('corrupt')
    cfg = str(base / 'cfg.py')
    stage1_cfg(stage2_root, str(base / 'work')).dump(cfg)
    good = osp.join(stage2_root, 'stage1.pth')
    data = open(good, 'rb').read()
    trunc, empty = str(base / 'trunc.pth'), str(base / 'empty.pth')
    with open(trunc, 'wb') as f:
        f.write(data[:len(data) // 2])
    open(empty, 'wb').close()
    return dict(cfg=cfg, good=good, trunc=trunc, empty=empty, base=base,
                root=stage2_root)


def _expect(path, what):
    return pytest.raises((CorruptCheckpointError, SystemExit),
                         match=f'Checkpoint "{path}" is {what}')


def test_the_loading_function(broken, tmp_path):
    """safe_load_checkpoint, which every strict path goes through."""
    with _expect(broken['trunc'], TRUNCATED):
        safe_load_checkpoint(broken['trunc'])
    with _expect(broken['empty'], EMPTY):
        safe_load_checkpoint(broken['empty'])
    garbage = str(tmp_path / 'notes.pth')
    with open(garbage, 'w') as f:
        f.write('not a checkpoint')
    with _expect(garbage, 'not a PyTorch checkpoint'):
        safe_load_checkpoint(garbage)
    # the pre-zip format of old torch versions, cut short
    legacy = str(tmp_path / 'legacy.pth')
    torch.save({'w': torch.zeros(64)}, legacy,
               _use_new_zipfile_serialization=False)
    assert torch.equal(safe_load_checkpoint(legacy)['w'], torch.zeros(64))
    data = open(legacy, 'rb').read()
    with open(legacy, 'wb') as f:
        f.write(data[:len(data) // 2])
    with _expect(legacy, TRUNCATED):
        safe_load_checkpoint(legacy)
    assert set(safe_load_checkpoint(broken['good'])) >= {'state_dict'}


def test_tools_train_resume_and_load_from(broken):
    tool = load_tool('train.py')
    work = str(broken['base'] / 'train_work')
    with _expect(broken['trunc'], TRUNCATED):
        tool.main([broken['cfg'], '--work-dir', work, '--resume',
                   broken['trunc']])
    with _expect(broken['empty'], EMPTY):
        tool.main([broken['cfg'], '--work-dir', work, '--cfg-options',
                   f'load_from={broken["empty"]}'])
    # --resume without a path: the work dir's last checkpoint
    os.makedirs(work, exist_ok=True)  # the work-dir lock made it
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(broken['trunc'])
    with _expect(broken['trunc'], TRUNCATED):
        tool.main([broken['cfg'], '--work-dir', work, '--resume'])
    assert not glob.glob(osp.join(work, 'iter_*.pth'))


def test_tools_test(broken):
    tool = load_tool('test.py')
    for path, what in ((broken['trunc'], TRUNCATED), (broken['empty'],
                                                       EMPTY)):
        with _expect(path, what):
            tool.main([broken['cfg'], path, '--work-dir',
                       str(broken['base'] / 'test_work')])


def test_tools_infer_and_the_inferencer(broken):
    from ldr_mm.apis import MultiLabelInferencer
    image = sorted(glob.glob(osp.join(broken['root'], 'images', '**',
                                      '*.png'), recursive=True))[0]
    with _expect(broken['trunc'], TRUNCATED):
        load_tool('infer.py').main([broken['cfg'], broken['trunc'], image,
                                    '--no-progress'])
    with _expect(broken['empty'], EMPTY):
        MultiLabelInferencer(broken['cfg'], broken['empty'], device='cpu')
    model = MultiLabelInferencer(broken['cfg'], broken['good'],
                                 device='cpu').model
    with _expect(broken['trunc'], TRUNCATED):  # a model plus a checkpoint
        MultiLabelInferencer(model, broken['trunc'])


def test_stage2_stage1_checkpoint(broken):
    model = build_model(stage2_cfg(broken['root'],
                                   str(broken['base'] / 's2')))
    for path, what in ((broken['trunc'], TRUNCATED), (broken['empty'],
                                                       EMPTY)):
        model.stage1_checkpoint = path
        with _expect(path, what):
            model.init_weights()
