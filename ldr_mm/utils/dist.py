"""Distributed launch helpers: a CPU (gloo) path next to MMEngine's GPU one."""
import os

import torch
import torch.distributed as dist


def setup_cpu_distributed(cfg) -> bool:
    """Prepare ``cfg`` for ``--launcher pytorch`` on a machine without GPU.

    MMEngine's pytorch launcher calls ``torch.cuda.set_device`` and wraps the
    model with ``device_ids=[LOCAL_RANK]``; both fail without a GPU. Here we
    initialise the default process group with gloo from the torchrun
    environment (MMEngine then skips its own init) and select
    :class:`~ldr_mm.models.CPUDistributedDataParallel`. With a GPU nothing
    changes: MMEngine's own path runs.

    Args:
        cfg (Config): The config; ``cfg.launcher`` must already be set.

    Returns:
        bool: True if this function initialised the process group (the
        caller should then :func:`cleanup_distributed` at the end).
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the torchrun environment (missing '
            f'{missing}); start with tools/dist_train.sh or torchrun.')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'CPUDistributedDataParallel'):
        wrapper['type'] = 'CPUDistributedDataParallel'
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters',
                           cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
        return True
    return False


def cleanup_distributed(barrier: bool = True) -> None:
    """Destroy the default process group if one exists.

    Args:
        barrier (bool): Wait for every rank first (after a successful run).
            Pass False after an error: the other ranks may be gone.
    """
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()
