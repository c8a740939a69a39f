"""Crash-safe file writing.

Every file the plugin writes and later reads back (prompt caches, Gaussian
statistics, thresholds, annotation files) goes through :func:`atomic_write` so
a crash can never leave a half-written file that is later read as valid: the
data go to a temporary file in the same directory, are flushed and fsync'ed,
and only then renamed over the target (``os.replace`` is atomic on POSIX).
"""
import contextlib
import os
import os.path as osp
import re
import tempfile
from typing import Any, Callable, Iterator, IO, List

import torch
from mmengine.fileio.backends import LocalBackend


def _proc_umask():
    """The umask from the ``Umask:`` line of ``/proc/self/status`` (Linux
    >= 4.7), or None where there is none."""
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_at_import() -> int:
    mask = _proc_umask()
    if mask is None:  # read by setting it: only here, once
        mask = os.umask(0)
        os.umask(mask)
    return mask


# ``os.umask`` can only be read by setting it; doing that while other threads
# create files would give them a umask of 0 (world-writable files), so it is
# never done after import.
_IMPORT_UMASK = _umask_at_import()


def _current_umask() -> int:
    """The process umask, read without changing it: from /proc, so a
    ``umask`` set after import is honoured; elsewhere the umask at import."""
    mask = _proc_umask()
    return _IMPORT_UMASK if mask is None else mask


def _umask_mode() -> int:
    """0o666 minus the process umask: the mode ``open()`` would give."""
    return 0o666 & ~_current_umask()


# characters kept in a file name made from a label: letters and digits of
# any script, ``_``, space and ``. - + = @ ( ) [ ] ,``
_UNSAFE_CHARS = re.compile(r'[^\w .+=@()\[\],-]')


def safe_file_name(name, default: str = 'unnamed',
                   max_bytes: int = 150) -> str:
    """``name`` made into one harmless file-name component.

    For every file name built from data -- a class name, an image name --
    so that ``../../x`` or ``a/b`` cannot write outside the output folder:
    every character but letters, digits, ``_``, space and ``. - + = @ ( )
    [ ] ,`` becomes ``_`` (path separators, NUL, control characters,
    ``:``, ``*`` ...), leading dots become ``_`` (no ``..``, no hidden
    files), outer spaces are removed and the UTF-8 form is cut to
    ``max_bytes`` bytes (file systems allow 255).

    Args:
        name: A class name, image stem ... (``str()`` is applied).
        default (str): The result for an empty name.
        max_bytes (int): Longest result, in UTF-8 bytes.

    Returns:
        str: The file name; equal to ``name`` when that is already safe.
    """
    out = _UNSAFE_CHARS.sub('_', str(name)).strip()
    out = re.sub(r'^\.+', lambda m: '_' * len(m.group()), out)
    out = out.encode('utf-8')[:max_bytes].decode('utf-8', 'ignore')
    return out or default


@contextlib.contextmanager
def _replaced_on_success(path: str, keep_ext: bool) -> Iterator[tuple]:
    """A temporary file beside ``path``, renamed over it on success.

    Yields ``(fd, tmp_path)`` of a new file in ``path``'s directory (created
    with its parents); when the body returns, the file gets the mode
    ``open()`` would give and replaces ``path``; when it raises, the file is
    removed and ``path`` is left untouched. ``keep_ext`` keeps ``path``'s
    extension last in the temporary name (for writers that pick the format
    by suffix).
    """
    path = osp.abspath(path)
    dirname = osp.dirname(path)
    os.makedirs(dirname, exist_ok=True)
    root, ext = osp.splitext(osp.basename(path)) if keep_ext else (
        osp.basename(path), '')
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{root}.', suffix=f'.tmp{ext}', dir=dirname)
    try:
        yield fd, tmp
        os.chmod(tmp, _umask_mode())  # mkstemp creates files 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w', **open_kwargs) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` only on success.

    Args:
        path (str): The final file path. Parent directories are created.
        mode (str): ``'w'`` (text) or ``'wb'`` (binary). Defaults to ``'w'``.
        **open_kwargs: Passed to :func:`open` (e.g. ``encoding``).

    Yields:
        The open temporary file. If the body raises, the temporary file is
        removed and ``path`` is left untouched.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_write supports modes "w" and "wb", got {mode!r}')
    if mode == 'w':
        open_kwargs.setdefault('encoding', 'utf-8')
    with _replaced_on_success(path, keep_ext=False) as (fd, _):
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, 'wb') as f:
        torch.save(obj, f)


def atomic_call(path: str, writer: Callable[[str], None]) -> None:
    """Run ``writer(tmp_path)`` and rename ``tmp_path`` to ``path`` on success.

    For writers that insist on a path of their own (``cv2.imwrite``,
    ``matplotlib``'s ``savefig``). The temporary name keeps ``path``'s
    extension so format detection by suffix still works.
    """
    with _replaced_on_success(path, keep_ext=True) as (fd, tmp):
        os.close(fd)
        writer(tmp)


class AtomicLocalBackend(LocalBackend):
    """MMEngine's :class:`~mmengine.fileio.LocalBackend` whose writes are
    atomic (:func:`atomic_write`: temporary file, fsync, rename; the same
    bytes). Reads, listing and removal are LocalBackend's."""

    def put(self, obj: bytes, filepath) -> None:
        with atomic_write(str(filepath), 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        with atomic_write(str(filepath), 'w', encoding=encoding) as f:
            f.write(obj)


#: The name of :class:`AtomicLocalBackend` in MMEngine's backend registry.
ATOMIC_LOCAL_BACKEND = 'atomic_local'


def register_atomic_local_backend() -> None:
    """Add :class:`AtomicLocalBackend` to MMEngine's file backends as
    ``'atomic_local'`` (once; called when ldr_mm is imported).

    MMEngine writes checkpoints with ``LocalBackend.put``, which opens the
    target and writes into it: a crash (SIGKILL, power loss, full disk) in
    the middle leaves a truncated ``iter_N.pth`` that ``--resume CKPT``
    would later try to load. :class:`AtomicLocalBackend` writes to a
    temporary file and renames it, so a checkpoint either exists whole or
    not at all. It is a new name, not a replacement: MMEngine's ``local``
    backend and its path prefixes stay as they are, and a writer opts in
    with ``backend_args=dict(backend='atomic_local')`` -- the checkpoint
    hook of ``configs/_base_/default_runtime.py`` does (``CheckpointHook``
    passes its ``backend_args`` to every save, best and periodic, to the
    ``last_checkpoint`` file and to the removal of old checkpoints). A
    config that inherits MMPretrain's runtime instead adds that one key to
    its ``default_hooks.checkpoint``.
    """
    from mmengine.fileio.backends import register_backend
    from mmengine.fileio.backends.registry_utils import backends

    if backends.get(ATOMIC_LOCAL_BACKEND) is not AtomicLocalBackend:
        register_backend(ATOMIC_LOCAL_BACKEND, AtomicLocalBackend)


#: The names of :func:`atomic_write` / :func:`atomic_call` temporaries:
#: ``.<name>.<8 random characters of mkstemp>.tmp`` (``atomic_call`` adds the
#: target's extension after ``.tmp``). A kill before the rename leaves one.
_TEMP_NAME = re.compile(r'^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(\.[^./]+)?$')


def remove_stale_temporaries(dirname: str) -> List[str]:
    """Delete the temporaries that interrupted atomic writes left in
    ``dirname`` (not recursive; only :func:`atomic_write`'s name pattern).

    Call it only where no other process writes into ``dirname`` (e.g. a
    work dir under its training lock, when a run resumes).

    Returns:
        list[str]: The removed paths.
    """
    removed = []
    if not osp.isdir(dirname):
        return removed
    for name in sorted(os.listdir(dirname)):
        path = osp.join(dirname, name)
        if _TEMP_NAME.match(name) and osp.isfile(path) and \
                not osp.islink(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                removed.append(path)
    return removed
