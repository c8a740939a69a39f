"""Load MMEngine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
refuses every global that is not on an allow-list. MMEngine 0.10.7 stores its
message hub in checkpoints (``HistoryBuffer`` objects holding numpy arrays,
numpy scalars and dtypes), so it cannot resume its own checkpoints. We allow
exactly the globals those checkpoints contain -- never a blanket
``weights_only=False``, which would let a checkpoint run arbitrary code.

One of those globals is ``getattr``: a ``HistoryBuffer`` pickles its
statistics methods as ``getattr(HistoryBuffer, 'mean')``. We do not allow the
builtin itself; the name resolves to :func:`_history_buffer_getattr`, which
only returns the registered statistics methods of ``HistoryBuffer`` and
refuses everything else.
"""
import contextlib
import os.path as osp
import pickle
import zipfile
from typing import Iterator, List, Optional

import numpy as np
import torch


def _history_buffer_getattr(obj, name):
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Refused getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'only HistoryBuffer statistics methods may be looked up.')


def _safe_globals() -> List:
    from mmengine.logging.history_buffer import HistoryBuffer

    items = [
        HistoryBuffer,
        (_history_buffer_getattr, '__builtin__.getattr'),
        (_history_buffer_getattr, 'builtins.getattr'),
        # numpy arrays inside HistoryBuffer / message-hub runtime info
        np.ndarray,
        np.dtype,
    ]
    try:  # numpy >= 1.25 keeps the private module under numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
        items += [_reconstruct, scalar]
    except ImportError:  # pragma: no cover - old numpy
        from numpy.core.multiarray import _reconstruct, scalar
        items += [_reconstruct, scalar]
    # the concrete dtype classes pickled with np.dtype objects
    for name in ('Float64DType', 'Float32DType', 'Float16DType',
                 'Int64DType', 'Int32DType', 'Int16DType', 'Int8DType',
                 'UInt8DType', 'BoolDType', 'UInt64DType', 'UInt32DType'):
        cls = getattr(np.dtypes, name, None) if hasattr(np, 'dtypes') \
            else None
        if cls is not None:
            items.append(cls)
    return [i for i in items if i is not None]


_REGISTERED = False


def register_safe_globals() -> None:
    """Add the globals of MMEngine checkpoints to torch's allow-list."""
    global _REGISTERED
    if _REGISTERED or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        torch.serialization.add_safe_globals(_safe_globals())
    _REGISTERED = True


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint holds objects outside the allow-list (maybe code)."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model (keys, shapes or class names)."""


class CorruptCheckpointError(RuntimeError):
    """The checkpoint file is empty, truncated or not a PyTorch file."""


_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_MAGIC = b'\x80'  # legacy (pre-zip) torch.save files are pickles


def checkpoint_file_problem(path: str) -> Optional[str]:
    """What is structurally wrong with a checkpoint file, cheaply.

    Reads the first bytes and, for zip checkpoints (``torch.save``'s format
    since torch 1.6), the archive's central directory at the end of the file,
    which a truncated copy lacks. The tensor data are not read.

    Returns:
        str | None: ``None`` if the file looks complete, else the problem in
        words (``'empty (0 bytes)'``, ``'truncated ...'``, ...).
    """
    size = osp.getsize(path)
    if size == 0:
        return 'empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head == _ZIP_MAGIC:
        if not zipfile.is_zipfile(path):
            return (f'truncated or corrupt ({size} bytes; its zip archive '
                    'has no end record, as after an interrupted copy, '
                    'download or save)')
        return None
    if head.startswith(_PICKLE_MAGIC):
        return None
    return (f'not a PyTorch checkpoint (it starts with {head!r}, neither a '
            'zip archive nor a pickle)')


def corrupt_checkpoint_message(path: str, problem: str) -> str:
    """The message of :class:`CorruptCheckpointError` for ``path``."""
    return (f'Checkpoint "{path}" is {problem}. It cannot be loaded: copy or '
            'download it again, or use another checkpoint (e.g. an earlier '
            'iter_*.pth / epoch_*.pth of the same work dir).')


def check_checkpoint_file(path: Optional[str]) -> None:
    """Raise :class:`CorruptCheckpointError` if ``path`` is empty, truncated
    or not a PyTorch file (see :func:`checkpoint_file_problem`); ``None``
    (nothing to load) passes.

    For tools that hand the file to MMEngine's own loader (``--resume``,
    ``load_from``), so the error is clear before the runner starts.
    """
    problem = checkpoint_file_problem(path) if path else None
    if problem:
        raise CorruptCheckpointError(corrupt_checkpoint_message(path, problem))


def checkpoint_to_load(cfg) -> Optional[str]:
    """The local file MMEngine's runner of ``cfg`` will load when it starts.

    ``cfg.load_from`` (also what ``--resume CKPT`` sets), or with
    ``resume=True`` and no ``load_from`` the latest checkpoint of the work
    dir (``last_checkpoint``, as :meth:`Runner.load_or_resume` finds it).

    Returns:
        str | None: The path if it is a local file, else ``None``.
    """
    path = cfg.get('load_from')
    if not path and cfg.get('resume') and cfg.get('work_dir'):
        from mmengine.runner.checkpoint import find_latest_checkpoint
        if osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
            path = find_latest_checkpoint(cfg.work_dir)
    return path if path and osp.isfile(path) else None


def _is_refusal(error: pickle.UnpicklingError) -> bool:
    text = str(error)
    return 'Weights only load failed' in text or 'Unsupported global' in \
        text or 'Refused' in text


def safe_load_checkpoint(path: str, map_location: Optional[str] = 'cpu'):
    """``torch.load(path, weights_only=True)`` with clear refusal messages.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptCheckpointError: The file is empty, truncated or otherwise
            unreadable; the message names it and says so.
        UnsafeCheckpointError: The pickle references a global that is not on
            the allow-list (a checkpoint that would run code is refused
            before anything in it runs).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint "{path}" does not exist')
    check_checkpoint_file(path)
    register_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if not _is_refusal(e):
            raise CorruptCheckpointError(corrupt_checkpoint_message(
                path, f'corrupt (unpickling failed: {e})')) from e
        raise UnsafeCheckpointError(
            f'Refused to load "{path}": it contains objects outside the '
            f'allow-list of weights-only loading, and loading it could run '
            f'code. Only load checkpoints you trust. Details: {e}') from e
    except (EOFError, zipfile.BadZipFile) as e:
        raise CorruptCheckpointError(corrupt_checkpoint_message(
            path, 'truncated or corrupt (' + type(e).__name__ +
            (f': {e}' if str(e) else '') + ')')) from e
    except RuntimeError as e:
        if 'PytorchStreamReader' not in str(e) and 'zip' not in str(e):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise CorruptCheckpointError(corrupt_checkpoint_message(
            path, f'truncated or corrupt ({first})')) from e


def refuse_unsafe_checkpoint(error: pickle.UnpicklingError,
                             path: Optional[str]) -> SystemExit:
    """The message tools print when MMEngine's ``torch.load`` refuses a file.

    Returns a :class:`SystemExit` to raise; nothing in the file has run
    (weights-only unpickling stops at the first disallowed global).
    """
    lines = [line.strip() for line in str(error).strip().splitlines()]
    # torch's line naming the refused global, e.g. "Trying to load
    # unsupported GLOBAL posix.system ..." / "Unsupported global: ..."
    detail = next((line for line in lines if 'GLOBAL' in line or
                   'Unsupported global' in line), None) or next(
        (line for line in lines if 'Refused' in line),
        lines[-1] if lines else '')
    return SystemExit(
        f'Refused to load the checkpoint "{path or "(latest in work_dir)"}":'
        ' it holds objects outside the weights-only allow-list, and loading '
        'it could run code. Nothing in it was executed. Only load '
        f'checkpoints you trust. ({detail})')


@contextlib.contextmanager
def exit_on_checkpoint_error(checkpoint: Optional[str]) -> Iterator[None]:
    """Turn a refused checkpoint into the one-line exit of the tools.

    Around the code of a command-line tool that loads ``checkpoint``: a
    code-running file (:class:`UnsafeCheckpointError`, reworded by
    :func:`refuse_unsafe_checkpoint`), an empty or truncated one
    (:class:`CorruptCheckpointError`) and one for another model or other
    classes (:class:`~ldr_mm.utils.CheckpointMismatchError`) exit with their
    message (status 1) instead of a traceback. Other errors pass.

    Raises:
        SystemExit: One of the errors above happened in the body.
    """
    try:
        yield
    except UnsafeCheckpointError as e:
        raise refuse_unsafe_checkpoint(e, checkpoint) from None
    except (CorruptCheckpointError, CheckpointMismatchError) as e:
        raise SystemExit(str(e)) from None
