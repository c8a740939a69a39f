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
import pickle
from typing import List, Optional

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


def safe_load_checkpoint(path: str, map_location: Optional[str] = 'cpu'):
    """``torch.load(path, weights_only=True)`` with a clear refusal message.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: The pickle references a global that is not on
            the allow-list (a checkpoint that would run code is refused
            before anything in it runs).
    """
    import os.path as osp
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint "{path}" does not exist')
    register_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f'Refused to load "{path}": it contains objects outside the '
            f'allow-list of weights-only loading, and loading it could run '
            f'code. Only load checkpoints you trust. Details: {e}') from e


def refuse_unsafe_checkpoint(error: pickle.UnpicklingError,
                             path: Optional[str]) -> SystemExit:
    """The message tools print when MMEngine's ``torch.load`` refuses a file.

    Returns a :class:`SystemExit` to raise; nothing in the file has run
    (weights-only unpickling stops at the first disallowed global).
    """
    detail = str(error).strip().splitlines()
    detail = next((line.strip() for line in detail
                   if 'Unsupported global' in line or 'Refused' in line),
                  detail[-1] if detail else '')
    return SystemExit(
        f'Refused to load the checkpoint "{path or "(latest in work_dir)"}":'
        ' it holds objects outside the weights-only allow-list, and loading '
        'it could run code. Nothing in it was executed. Only load '
        f'checkpoints you trust. ({detail})')
