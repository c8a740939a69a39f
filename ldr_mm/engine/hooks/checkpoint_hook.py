"""MMEngine's ``CheckpointHook`` with model selection that survives a kill."""
import bisect
from typing import List, Optional, Tuple

from mmengine.hooks import CheckpointHook

from mmpretrain.registry import HOOKS

#: Message-hub key: ``[epoch, iter]`` of the last finished validation.
VALIDATED_KEY = 'ldr_validated_at'


class _DeferredRemovals:
    """A file backend whose ``remove`` / ``rmtree`` only take notes."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.pending: List[Tuple[str, str]] = []

    def remove(self, path) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path) -> None:
        self.pending.append(('rmtree', path))

    def __getattr__(self, name):
        return getattr(self._backend, name)


def _by_epoch(loop) -> bool:
    from mmengine.runner import EpochBasedTrainLoop
    return isinstance(loop, EpochBasedTrainLoop)


def validation_due(loop, position: int) -> bool:
    """Whether ``loop`` validates once its counter reaches ``position``.

    Args:
        loop: An MMEngine train loop (``IterBasedTrainLoop``,
            ``EpochBasedTrainLoop`` or a subclass such as ``EMTrainLoop``).
        position (int): Finished iterations (iteration-based loops) or
            epochs (epoch-based loops), as a checkpoint's ``meta`` records.

    Returns:
        bool: The rule of MMEngine's loops, with their dynamic intervals;
        ``False`` for a loop without ``val_interval``.
    """
    interval = getattr(loop, 'val_interval', None)
    if not interval or position < max(1, int(getattr(loop, 'val_begin', 1))):
        return False
    milestones = getattr(loop, 'dynamic_milestones', None)
    if milestones:  # as the loops' _decide_current_val_interval
        interval = loop.dynamic_intervals[
            bisect.bisect(milestones, position + 1) - 1]
    last = loop.max_epochs if _by_epoch(loop) else loop.max_iters
    return position % interval == 0 or position == last


@HOOKS.register_module()
class LDRCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose best checkpoint is the same after a kill and
    ``--resume`` as in an uninterrupted run.

    MMEngine writes the periodic checkpoint of step N *before* the
    validation of step N, and a resumed loop starts after N: a kill between
    the two (or during the best-checkpoint write) lost that validation, and
    the resumed run chose another best checkpoint. Here

    * every finished validation records its ``[epoch, iter]`` in the message
      hub (:data:`VALIDATED_KEY`), so checkpoints written after it know;
    * on resume, if the loop validates at the resumed step and the
      checkpoint does not record that validation, it runs now, before
      training continues (``before_train_epoch``, after every hook's
      ``before_train``). Validation is deterministic and the training RNG
      stream is kept by :class:`TrainRNGStateHook`, so it gives the scores
      and the ``save_best`` decision of the uninterrupted run. Repeating a
      validation that did happen but was not recorded (it did not improve,
      so its checkpoint was not re-saved; or a checkpoint of older code)
      changes nothing: an equal score is not better;
    * the previous best checkpoint is removed only after its successor is
      completely written, and the periodic checkpoint that records the new
      best is re-saved only after that removal.

    :class:`~ldr_mm.engine.LDRRunner` uses it wherever a config asks for
    MMEngine's ``CheckpointHook``. Arguments are ``CheckpointHook``'s.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._check_validation = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._check_validation = bool(runner._resume)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._check_validation and self.last_ckpt is None:
            # as in the uninterrupted run, a new best re-saves the periodic
            # checkpoint (MMEngine forgets it was written before the kill)
            self.last_ckpt = runner.message_hub.get_info('last_ckpt')

    def before_train_epoch(self, runner) -> None:
        self._validate_if_missed(runner)

    def after_train(self, runner) -> None:
        # an epoch-based loop resumed at its last epoch runs no epoch
        self._validate_if_missed(runner)
        super().after_train(runner)

    def _validate_if_missed(self, runner) -> None:
        """Run the resumed step's validation if the checkpoint lacks it."""
        if not self._check_validation:
            return
        self._check_validation = False
        loop, val_loop = runner.train_loop, runner.val_loop
        by_epoch = _by_epoch(loop)
        position = runner.epoch if by_epoch else runner.iter
        done = list(runner.message_hub.get_info(VALIDATED_KEY) or [-1, -1])
        if val_loop is None or not validation_due(loop, position) or \
                done[0 if by_epoch else 1] == position:
            return
        if by_epoch and runner.iter != position * len(loop.dataloader):
            return  # a checkpoint inside the epoch after the validation
        runner.logger.info(
            f'Resumed at {"epoch" if by_epoch else "iter"} {position}, '
            'whose validation the checkpoint does not record '
            '(interrupted between the checkpoint and the validation): '
            'validating now, so save_best sees every validation.')
        val_loop.run()
        runner.model.train()

    def after_val_epoch(self, runner, metrics) -> None:
        # before the best checkpoint (and its re-save of the periodic one)
        runner.message_hub.update_info(VALIDATED_KEY,
                                       [runner.epoch, runner.iter])
        super().after_val_epoch(runner, metrics)

    def _best_paths(self) -> List[Optional[str]]:
        return [getattr(self, 'best_ckpt_path', None)] + list(
            (getattr(self, 'best_ckpt_path_dict', None) or {}).values())

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """MMEngine's, with the removal of the previous best checkpoint
        moved after the new one is written."""
        before = self._best_paths()
        last_ckpt, self.last_ckpt = self.last_ckpt, None  # no re-save yet
        backend = self.file_backend
        self.file_backend = _DeferredRemovals(backend)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            pending, self.file_backend = self.file_backend.pending, backend
            self.last_ckpt = last_ckpt
        keep = set(self._best_paths())
        for how, path in pending:  # only after the successor is complete
            if path not in keep:
                getattr(backend, how)(path)
        if self._best_paths() != before and last_ckpt is not None:
            step = runner.epoch if self.by_epoch else runner.iter
            self._save_checkpoint_with_step(
                runner, step, dict(epoch=runner.epoch, iter=runner.iter))
