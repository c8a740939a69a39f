"""Plumbing shared by the package and the tools: safe and strict checkpoint
loading, config and class-list helpers, crash-safe writing, CPU DDP."""
from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         check_checkpoint_file, register_safe_globals,
                         safe_load_checkpoint)
from .classes import ClassMismatchError, check_same_classes, class_difference
from .config import (config_classes, config_metainfo, inner_dataset_cfg,
                     split_dataset_cfg)
from .dist import cleanup_distributed, setup_cpu_distributed
from .fileio import (atomic_call, atomic_torch_save, atomic_write,
                     register_atomic_local_backend, safe_file_name)
from .strict_loading import (CheckpointMismatchError, checkpoint_dataset_meta,
                             checkpoint_state_dict, compare_state_dicts,
                             load_strict)

__all__ = [
    'CorruptCheckpointError', 'UnsafeCheckpointError',
    'check_checkpoint_file', 'register_safe_globals', 'safe_load_checkpoint',
    'ClassMismatchError', 'check_same_classes', 'class_difference',
    'config_classes', 'config_metainfo', 'inner_dataset_cfg',
    'split_dataset_cfg', 'cleanup_distributed', 'setup_cpu_distributed',
    'atomic_call', 'atomic_torch_save', 'atomic_write',
    'register_atomic_local_backend', 'safe_file_name',
    'CheckpointMismatchError',
    'checkpoint_dataset_meta', 'checkpoint_state_dict', 'compare_state_dicts',
    'load_strict'
]
