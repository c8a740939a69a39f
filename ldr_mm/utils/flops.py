"""FLOPs of a forward pass or a train step (torch.utils.flop_counter).

One home for FLOP counting: ``tools/analysis_tools/get_flops.py`` and the
benchmarks use :func:`count_flops`.

torch's counter has formulas for the CUDA attention kernels only: on CPU,
``scaled_dot_product_attention`` (and so ``nn.MultiheadAttention`` and the
LDR neck's encoder) runs ``aten._scaled_dot_product_flash_attention_for_cpu``,
which it counts as **0 FLOPs**. :func:`register_cpu_attention_flops` adds
torch's own SDPA formulas for that kernel and its backward, so CPU and GPU
counts agree (tested against 4 B H L S E for the two attention matmuls).
In eval mode without gradients, ``nn.TransformerEncoderLayer`` and
``nn.MultiheadAttention`` take fused "fast path" kernels that the counter
does not see at all (0 FLOPs for a whole layer); :func:`count_flops` turns
the fast path off while counting (the same arithmetic, unfused).
FLOPs are counted as torch does: a multiply-add is 2 FLOPs (MMPretrain's
``get_flops.py`` / fvcore report multiply-adds).
"""
from collections import defaultdict
from typing import Callable, Dict, Tuple

import torch

_registered = False


def register_cpu_attention_flops() -> None:
    """Count the CPU flash-attention kernels like the CUDA ones (once)."""
    global _registered
    if _registered:
        return
    from torch.utils.flop_counter import (register_flop_formula,
                                          sdpa_backward_flop_count,
                                          sdpa_flop_count)
    aten = torch.ops.aten
    fwd = getattr(aten, '_scaled_dot_product_flash_attention_for_cpu', None)
    bwd = getattr(aten, '_scaled_dot_product_flash_attention_for_cpu_'
                  'backward', None)
    if fwd is not None:
        @register_flop_formula(fwd)
        def _cpu_sdpa(query_shape, key_shape, value_shape, *args,
                      out_shape=None, **kwargs) -> int:
            return sdpa_flop_count(query_shape, key_shape, value_shape)
    if bwd is not None:
        @register_flop_formula(bwd)
        def _cpu_sdpa_backward(grad_out_shape, query_shape, key_shape,
                               value_shape, *args, out_shape=None,
                               **kwargs) -> int:
            return sdpa_backward_flop_count(grad_out_shape, query_shape,
                                            key_shape, value_shape)
    _registered = True


def count_flops(fn: Callable, *args, depth: int = 2,
                **kwargs) -> Tuple[int, Dict[str, int]]:
    """FLOPs of ``fn(*args, **kwargs)``.

    Args:
        fn (Callable): What to run (a forward pass, a train step ...).
        depth (int): Module depth of the per-module totals.

    Returns:
        tuple: (total FLOPs, ``{module path: FLOPs}`` with the paths as
        torch names them, e.g. ``'LDRClassifier.backbone'``; ``'Global'`` is
        the total).
    """
    from torch.utils.flop_counter import FlopCounterMode
    register_cpu_attention_flops()
    mha = torch.backends.mha
    fast = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False, depth=depth) as counter:
            fn(*args, **kwargs)
    finally:
        mha.set_fastpath_enabled(fast)
    per_module = defaultdict(int)
    for name, ops in counter.get_flop_counts().items():
        per_module[name] = int(sum(ops.values()))
    return int(counter.get_total_flops()), dict(per_module)
