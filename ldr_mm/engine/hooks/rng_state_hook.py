"""Keep the training RNG stream exact across validation and resume."""
from typing import Optional

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS

from ldr_mm.utils.rng import set_torch_rng_state, torch_rng_state


@HOOKS.register_module()
class TrainRNGStateHook(Hook):
    """Make ``--resume`` continue the exact random stream of training.

    MMEngine re-seeds on resume but does not restore the RNG state, and
    everything between two train iterations that draws from the global torch
    RNG (a validation loop's DataLoader, a statistics pass) shifts the stream
    that dropout uses. This hook snapshots the torch RNG state (CPU and the
    current CUDA device) after each train iteration, restores it before the
    next one, and stores it in checkpoints, so a resumed run draws exactly
    the numbers the uninterrupted run draws.

    numpy / python ``random`` states are deliberately left alone: MMEngine's
    data loading re-derives them from the seed (worker_init_fn) and replays
    them when it skips the already-trained batches on resume.
    """
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._state: Optional[dict] = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._state is not None:
            set_torch_rng_state(self._state)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self._state = torch_rng_state()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._state is not None:
            checkpoint.setdefault('meta', {})['train_rng_state'] = self._state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('meta', {}).get('train_rng_state')
        if state is not None and runner._resume:
            self._state = state
