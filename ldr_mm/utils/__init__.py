from .checkpoint import (UnsafeCheckpointError, register_safe_globals,
                         safe_load_checkpoint)
from .fileio import (atomic_call, atomic_torch_save, atomic_write,
                     register_atomic_local_backend)

__all__ = [
    'UnsafeCheckpointError', 'register_safe_globals', 'safe_load_checkpoint',
    'atomic_call', 'atomic_torch_save', 'atomic_write',
    'register_atomic_local_backend'
]
from .dist import cleanup_distributed, setup_cpu_distributed  # noqa: E402

__all__ += ['cleanup_distributed', 'setup_cpu_distributed']
