"""Experiment tracking through MMEngine's vis backends (issue 14.4): a
training run with TensorboardVisBackend writes an event file whose scalars
(read back with TensorBoard's own reader) are the run's logged values;
WandbVisBackend in offline mode when wandb is installed."""
import glob
import json
import os.path as osp

import pytest

from conftest import load_tiny_cfg
from inference_helpers import load_tool


def train_with_backends(tmp_path, demo_root, backends):
    cfg = load_tiny_cfg(demo_root, str(tmp_path / 'work'), max_iters=4,
                        val_interval=2, ckpt_interval=4)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')] + backends
    # an iteration loop: validation metrics at their iteration (as the
    # stage-2 configs do), not at "epoch 0"
    cfg.default_hooks.logger.log_metric_by_epoch = False
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    load_tool('train.py').main([path])
    (vis_dir, ) = glob.glob(str(tmp_path / 'work' / '*' / 'vis_data'))
    scalars = [json.loads(line) for line in open(osp.join(vis_dir,
                                                          'scalars.json'))]
    return vis_dir, scalars


@pytest.mark.slow
def test_tensorboard_event_file_holds_the_logged_scalars(tmp_path,
                                                         demo_root):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    vis_dir, scalars = train_with_backends(
        tmp_path, demo_root, [dict(type='TensorboardVisBackend')])
    events = glob.glob(osp.join(vis_dir, 'events.out.tfevents.*'))
    assert len(events) == 1
    acc = EventAccumulator(events[0])
    acc.Reload()
    tags = acc.Tags()['scalars']
    assert {'loss', 'lr', 'auc/mean', 'mAP/mean'} <= set(tags)
    # the training loss of every iteration, as LocalVisBackend logged it
    train = [s for s in scalars if 'loss' in s]
    tb_loss = [(e.step, e.value) for e in acc.Scalars('loss')]
    assert [st for st, _ in tb_loss] == [s['step'] for s in train] == \
        [1, 2, 3, 4]
    for (_, v), s in zip(tb_loss, train):
        assert v == pytest.approx(s['loss'], rel=1e-6)
    # validation at iterations 2 and 4
    val = [s for s in scalars if 'auc/mean' in s]
    tb_auc = acc.Scalars('auc/mean')
    assert [e.step for e in tb_auc] == [s['step'] for s in val] == [2, 4]
    for e, s in zip(tb_auc, val):
        assert e.value == pytest.approx(s['auc/mean'], rel=1e-6)
    # the config is logged as text
    assert 'config/text_summary' in acc.Tags()['tensors']


@pytest.mark.slow
def test_wandb_offline(tmp_path, demo_root, monkeypatch):
    """Runs where wandb is installed (not pinned: optional)."""
    pytest.importorskip(
        'wandb', reason='wandb is not installed (optional: pip install '
        'wandb); WandbVisBackend is MMEngine\'s, nothing of ours to test '
        'without it')
    monkeypatch.setenv('WANDB_MODE', 'offline')
    vis_dir, scalars = train_with_backends(tmp_path, demo_root, [
        dict(type='WandbVisBackend', init_kwargs=dict(
            project='ldr_mm_test', mode='offline'))])
    import wandb
    wandb.finish()  # the runner leaves the run open until exit: flush it
    # MMEngine puts the W&B run under vis_data/wandb
    runs = glob.glob(osp.join(vis_dir, 'wandb', 'offline-run-*'))
    assert len(runs) == 1
    (records, ) = glob.glob(osp.join(runs[0], 'run-*.wandb'))
    data = open(records, 'rb').read()
    # every logged value is in the run's history records at full precision
    # (the console lines the run also records show 4 digits only)
    values = [s['loss'] for s in scalars if 'loss' in s] + \
        [s['auc/mean'] for s in scalars if 'auc/mean' in s]
    assert len(values) == 6
    for v in values:
        assert json.dumps(v).encode() in data, v
