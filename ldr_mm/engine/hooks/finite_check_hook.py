"""Stop training at the first non-finite loss, naming the iteration."""
import math
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint

from mmpretrain.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite."""


@HOOKS.register_module()
class FiniteLossCheckHook(Hook):
    """Raise :class:`NonFiniteLossError` when a loss is NaN or infinite.

    MMEngine's ``CheckInvalidLossHook`` checks every ``interval`` iterations
    and says only "loss become infinite or nan!". This hook checks every
    iteration (the logger already synchronises the loss values each
    iteration, so this adds no device sync of its own), names the iteration,
    epoch and every non-finite loss term, and points to the last checkpoint
    to resume from. It runs before the checkpoint hook, so no checkpoint of
    the broken model is written for that iteration.
    """
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        values = {}
        for key, value in outputs.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float().mean().item()
            if isinstance(value, (int, float)):
                values[key] = float(value)
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if not bad:
            return
        last = find_latest_checkpoint(runner.work_dir)
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        raise NonFiniteLossError(
            f'Non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}): {terms}. Training '
            'stopped before a checkpoint of this state was written. Check '
            'the learning rate and the input data of this batch'
            + (f'; resume from {last} with --resume' if last else '') + '.')
