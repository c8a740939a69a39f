"""Issue 13.4: a work dir that a live run holds is refused; stale locks are
taken over; the lock is released at exit. Real processes throughout."""
import importlib.util
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO, write_tiny_config

MODULE = osp.join(REPO, 'ldr_mm', 'utils', 'work_dir_lock.py')
spec = importlib.util.spec_from_file_location('work_dir_lock', MODULE)
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)

HOLDER = f'''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location('l', {MODULE!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
m.acquire_work_dir(sys.argv[1])
print('locked', flush=True)
time.sleep(120)
'''


def start_holder(work_dir):
    p = subprocess.Popen([sys.executable, '-c', HOLDER, work_dir],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'locked'
    return p


def test_live_owner_refuses_then_stale_lock_is_taken_over(tmp_path):
    work = str(tmp_path / 'w')
    holder = start_holder(work)
    try:
        with pytest.raises(lock.WorkDirLockedError) as e:
            lock.acquire_work_dir(work)
        msg = str(e.value)
        assert f'pid {holder.pid} on {socket.gethostname()}' in msg
        assert 'another --work-dir' in msg and lock.LOCK_NAME in msg
        # killed but not yet reaped (a zombie) counts as gone
        holder.send_signal(signal.SIGKILL)
        for _ in range(100):
            if lock._proc_stat(holder.pid)[0] == 'Z':
                break
            time.sleep(0.05)
        with pytest.warns(UserWarning, match=f'stale lock.*pid {holder.pid}'):
            path = lock.acquire_work_dir(work)
    finally:
        holder.kill()
        holder.wait()
    assert json.load(open(path))['pid'] == os.getpid()
    lock.release_work_dir(path)
    assert not osp.exists(path)


def test_reused_pid_and_other_hosts(tmp_path):
    work = str(tmp_path / 'w')
    os.makedirs(work)
    path = osp.join(work, lock.LOCK_NAME)
    other = subprocess.Popen([sys.executable, '-c', 'import time; '
                              'time.sleep(60)'])
    try:
        # a live pid whose start time differs: another program got the pid
        json.dump(dict(pid=other.pid, host=socket.gethostname(),
                       start_time='1'), open(path, 'w'))
        with pytest.warns(UserWarning, match='stale lock'):
            lock.release_work_dir(lock.acquire_work_dir(work))
        # the same pid and start time: alive
        json.dump(dict(pid=other.pid, host=socket.gethostname(),
                       start_time=lock._start_time(other.pid)),
                  open(path, 'w'))
        with pytest.raises(lock.WorkDirLockedError):
            lock.acquire_work_dir(work)
    finally:
        other.kill()
        other.wait()
    # another host: cannot be checked, so refused
    json.dump(dict(pid=1, host='elsewhere'), open(path, 'w'))
    with pytest.raises(lock.WorkDirLockedError, match='cannot be checked'):
        lock.acquire_work_dir(work)
    # a corrupt lock file is stale
    open(path, 'w').write('{not json')
    with pytest.warns(UserWarning, match='stale lock'):
        lock.release_work_dir(lock.acquire_work_dir(work))


@pytest.mark.slow
def test_two_train_runs_in_one_work_dir(demo_root, tmp_path):
    work = str(tmp_path / 'work')
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root, work,
                            max_iters=100000, val_interval=100000,
                            ckpt_interval=100000)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    train = [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg]
    first = subprocess.Popen(train, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    lock_file = osp.join(work, lock.LOCK_NAME)
    try:
        for _ in range(600):
            if osp.exists(lock_file) or first.poll() is not None:
                break
            time.sleep(0.1)
        assert first.poll() is None and osp.exists(lock_file)
        # paused, not gone: still the owner (and no CPU taken from the rest)
        first.send_signal(signal.SIGSTOP)
        second = subprocess.run(train, env=env, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode != 0
        assert f'is in use by another training run (pid {first.pid}' in \
            second.stderr
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.kill()
        first.wait()
    # the first run is gone: its lock is stale, a new run takes it over
    short = write_tiny_config(tmp_path / 'short.py', demo_root, work,
                              max_iters=2, val_interval=100)
    third = subprocess.run(train[:-1] + [short], env=env,
                           capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr[-2000:]
    assert 'Took over the stale lock' in third.stderr
    assert not osp.exists(lock_file)  # released at exit
