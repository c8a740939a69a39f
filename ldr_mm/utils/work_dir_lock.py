"""One training run per work dir: a lock file with the owner's pid and host.

Two ``tools/train.py`` runs in one work dir share its log, interleave their
checkpoints and race on ``last_checkpoint``. The first run writes
``<work_dir>/.ldr_train.lock`` (created exclusively, so two runs starting at
once cannot both get it); a later run refuses the work dir while the owner is
alive. A lock whose process is gone (killed, crashed; or a pid now used by
another program, told apart by the process start time) is stale and taken
over with a note; the owner removes the lock when it ends.
"""
import json
import os
import os.path as osp
import socket
import sys
import time
import warnings
from contextlib import contextmanager
from typing import Optional

LOCK_NAME = '.ldr_train.lock'


class WorkDirLockedError(RuntimeError):
    """The work dir belongs to a training run that is still alive."""


def _proc_stat(pid: int) -> Optional[list]:
    """Fields of ``/proc/<pid>/stat`` from the state on (Linux), or None."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> Optional[str]:
    stat = _proc_stat(pid)
    return stat[19] if stat and len(stat) > 19 else None


def _alive(owner: dict) -> bool:
    """Whether the lock's owner still runs (on this host)."""
    pid = owner.get('pid')
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False  # our own pid: a leftover of this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is None:  # no /proc: trust the signal check
        return True
    if stat[0] in ('Z', 'X'):  # killed, not yet reaped
        return False
    started = owner.get('start_time')
    return started is None or started == _start_time(pid)


def _read_owner(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # half-written or foreign: treated as stale


def _describe(owner: dict) -> str:
    started = owner.get('started')
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started)) \
        if isinstance(started, (int, float)) else '?'
    return (f'pid {owner.get("pid")} on {owner.get("host")}, started '
            f'{when}: {owner.get("command", "?")}')


def _try_create(path: str) -> bool:
    owner = dict(pid=os.getpid(), host=socket.gethostname(),
                 start_time=_start_time(os.getpid()), started=time.time(),
                 command=' '.join(sys.argv))
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(owner, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def acquire_work_dir(work_dir: str) -> str:
    """Take the work dir's lock or raise; returns the lock file's path.

    Raises:
        WorkDirLockedError: A live run holds the work dir (on this host, or
            on another host, where its liveness cannot be checked).
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    for _ in range(10):
        if _try_create(path):
            return path
        owner = _read_owner(path)
        if owner is None:
            continue  # released meanwhile
        here = owner.get('host', socket.gethostname()) == \
            socket.gethostname()
        if not here or _alive(owner):
            raise WorkDirLockedError(
                f'Work dir "{work_dir}" is in use by another training run '
                f'({_describe(owner)}). Two runs in one work dir would share '
                'its log and interleave checkpoints. Wait for it to end, '
                'stop it, or pass another --work-dir. (Lock file: '
                f'"{path}"; delete it only if that run is gone'
                + ('' if here else ', which cannot be checked from here')
                + '.)')
        stale = f'{path}.stale.{os.getpid()}'
        try:
            os.rename(path, stale)  # atomic: one run takes the stale lock
        except FileNotFoundError:
            continue
        os.remove(stale)
        warnings.warn(f'Took over the stale lock of work dir "{work_dir}" '
                      f'(its run is gone: {_describe(owner)}).')
    raise WorkDirLockedError(f'Could not lock work dir "{work_dir}" ("{path}" '
                             'keeps changing); is another run starting?')


def release_work_dir(path: str) -> None:
    """Remove the lock file if this process still owns it."""
    owner = _read_owner(path)
    if owner and owner.get('pid') == os.getpid() and \
            owner.get('host') == socket.gethostname():
        os.remove(path)


@contextmanager
def work_dir_lock(work_dir: str, enabled: bool = True):
    """Hold the work dir's lock for the ``with`` block (``enabled=False``:
    no-op, e.g. on ranks other than 0)."""
    path = acquire_work_dir(work_dir) if enabled else None
    try:
        yield path
    finally:
        if path is not None:
            release_work_dir(path)
