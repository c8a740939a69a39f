"""Make third-party forwards traceable with a dynamic batch, during export.

MMPretrain's ``ShiftWindowMSA.window_reverse`` (Swin) computes the batch
size as ``int(windows.shape[0] / (H * W / ws / ws))``: a float division
turned into a Python int, which tracing (``torch.export``, ``torch.jit``)
records as the constant batch of the example input. The exported Swin then
gives wrong probabilities for any other batch size. :func:`export_patches`
swaps in the same computation with integer tensor-size arithmetic while a
model is exported, and restores the original afterwards.
"""
import contextlib
from typing import Iterator


def _window_reverse(windows, H, W, window_size):
    """``ShiftWindowMSA.window_reverse`` with the batch kept symbolic.

    Args:
        windows: (B * H/ws * W/ws, ws, ws, C) window tokens.

    Returns:
        Tensor: (B, H, W, C).
    """
    x = windows.view(-1, H // window_size, W // window_size, window_size,
                     window_size, windows.shape[-1])
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(
        -1, H, W, windows.shape[-1])


def _patches():
    """(owner, attribute, replacement) of every export patch."""
    from mmpretrain.models.utils.attention import ShiftWindowMSA
    return [(ShiftWindowMSA, 'window_reverse',
             staticmethod(_window_reverse))]


@contextlib.contextmanager
def export_patches() -> Iterator[None]:
    """Apply the patches (module docstring) inside the ``with`` block."""
    saved = []
    try:
        for owner, name, new in _patches():
            saved.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, new)
        yield
    finally:
        for owner, name, old in reversed(saved):
            setattr(owner, name, old)
