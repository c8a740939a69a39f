"""What a checkpoint says about how it was made (its ``meta``)."""
from typing import Optional

#: ``meta`` keys copied into model cards and export sidecars.
SUMMARY_KEYS = ('epoch', 'iter', 'seed', 'experiment_name', 'time',
                'mmengine_version', 'mmpretrain_version', 'ldr_mm_version',
                'versions')


def checkpoint_summary(path: Optional[str]) -> dict:
    """The plain-data provenance keys of a checkpoint's ``meta``.

    Args:
        path (str, optional): An MMEngine checkpoint (read weights-only).

    Returns:
        dict: The :data:`SUMMARY_KEYS` the checkpoint records, plus
        ``file``; empty without a path.
    """
    if path is None:
        return {}
    from .checkpoint import safe_load_checkpoint
    ckpt = safe_load_checkpoint(path, map_location='cpu')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    out = {k: meta[k] for k in SUMMARY_KEYS if k in meta}
    for k in ('epoch', 'iter', 'seed'):
        if k in out:
            out[k] = int(out[k])
    out['file'] = path
    return out
