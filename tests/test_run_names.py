"""Two runs of one process in the same second keep their logs apart."""
import json
import os.path as osp

from mmengine.runner import Runner

from conftest import write_tiny_config
from inference_helpers import load_tool

test_tool = load_tool('test.py')
train_tool = load_tool('train.py')

STAMP = '20260101_000000'


def _log_lines(work, name):
    with open(osp.join(work, STAMP, name)) as f:
        return f.read()


def test_two_runs_in_one_second_get_their_own_logger_and_visualizer(
        demo_root, tmp_path, monkeypatch):
    """tools/train.py and tools/test.py called twice in one test (so the
    per-test clean-up of conftest.py does not separate them) with configs of
    the same file name and the start second pinned: each run writes its log
    and scalars into its own work dir, in MMEngine's layout. The second run
    used the first run's logger and visualizer (MMEngine names them
    ``<config name>_<second>``) and had no log of its own."""
    setup_env = Runner.setup_env

    def same_second(self, env_cfg):
        setup_env(self, env_cfg)
        self._timestamp = STAMP

    monkeypatch.setattr(Runner, 'setup_env', same_second)
    runs = []
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
        work = str(tmp_path / name / 'work')
        cfg = write_tiny_config(tmp_path / name / 'cfg.py', demo_root, work,
                                max_iters=2, val_interval=100)
        train_tool.main([cfg])
        runs.append((cfg, work))
    for (cfg, work), (_, other) in zip(runs, runs[::-1]):
        log = _log_lines(work, f'{STAMP}.log')
        assert work in log and other not in log
        assert 'Iter(train) [2/2]' in log
        scalars = [json.loads(line) for line in _log_lines(
            work, osp.join('vis_data', 'scalars.json')).splitlines()]
        assert [r['step'] for r in scalars if 'loss' in r] == [1, 2]
    tests = []
    for cfg, work in runs:
        test_work = work + '_test'
        test_tool.main([cfg, osp.join(work, 'iter_2.pth'),
                        '--work-dir', test_work])
        tests.append(test_work)
    for work, other in zip(tests, tests[::-1]):
        log = _log_lines(work, f'{STAMP}.log')
        assert work in log and other not in log
        assert 'Iter(test) [4/4]' in log
