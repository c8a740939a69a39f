"""MMEngine's ``Runner`` with strict loading and kill-safe model selection."""
import os.path as osp
from typing import Optional, Sequence, Tuple

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.runner import BaseLoop, Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmpretrain.registry import RUNNERS

from ldr_mm.engine.hooks.checkpoint_hook import LDRCheckpointHook
from ldr_mm.utils.checkpoint import safe_load_checkpoint
from ldr_mm.utils.fileio import remove_stale_temporaries
from ldr_mm.utils.strict_loading import load_strict

#: How a config names MMEngine's own checkpoint hook.
_MMENGINE_CHECKPOINT_HOOK = ('CheckpointHook', 'mmengine.CheckpointHook',
                             CheckpointHook)


@RUNNERS.register_module()
class LDRRunner(Runner):
    """The runner of ``tools/train.py`` (``runner_type='LDRRunner'``).

    Differences from MMEngine's :class:`~mmengine.runner.Runner`:

    * every checkpoint it loads -- ``--resume CKPT``, auto-resume (the work
      dir's latest checkpoint) and ``load_from`` -- goes through
      :func:`~ldr_mm.utils.load_strict`: weights-only reading, then a
      missing key, an extra key, a shape mismatch or class names other than
      the dataset's (also only in another order) stop the run with
      :class:`~ldr_mm.utils.CheckpointMismatchError` naming the file and the
      difference, before a weight is copied;
    * a config's MMEngine ``CheckpointHook`` becomes
      :class:`~ldr_mm.engine.LDRCheckpointHook` (the same arguments), whose
      ``save_best`` choice survives a kill and ``--resume``;
    * a successful resume removes the temporaries that a kill during an
      atomic write left in the work dir (and its ``reconstruction/``).
    """

    def register_hook(self, hook, priority=None) -> None:
        if isinstance(hook, dict) and \
                hook.get('type') in _MMENGINE_CHECKPOINT_HOOK:
            hook = dict(hook, type=LDRCheckpointHook)
        super().register_hook(hook, priority)

    def _expected_classes(self) -> Tuple[Optional[Sequence[str]], str]:
        """The class names of the first built loop's dataset, and which."""
        for loop, what in ((self._train_loop, 'training'),
                           (self._val_loop, 'validation'),
                           (self._test_loop, 'test')):
            if isinstance(loop, BaseLoop):
                meta = getattr(loop.dataloader.dataset, 'metainfo', None)
                if (meta or {}).get('classes'):
                    return list(meta['classes']), f'the {what} dataset'
        return None, 'the dataset'

    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:
        """Load ``filename`` into the model strictly, whatever ``strict``.

        The arguments are MMEngine's; ``strict`` is ignored (always strict)
        and of ``revise_keys`` only the removal of DDP's ``module.`` prefix
        applies (:func:`~ldr_mm.utils.checkpoint_state_dict`). A local file
        is read by :func:`~ldr_mm.utils.safe_load_checkpoint`, a URL by
        MMEngine's reader. ``after_load_checkpoint`` hooks run first, as in
        MMEngine.

        Raises:
            ldr_mm.utils.CheckpointMismatchError: Keys, shapes or classes
                differ; the model is unchanged.
        """
        if osp.isfile(filename):
            checkpoint = safe_load_checkpoint(filename, map_location)
        else:
            checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        classes, classes_of = self._expected_classes()
        meta = load_strict(
            self.model, checkpoint, what=f'Checkpoint "{filename}"',
            classes=classes, classes_of=classes_of,
            hint='Resume or load only checkpoints of this config (same '
            'model, same dataset classes in the same order).')
        if classes and not (meta.get('dataset_meta') or {}).get('classes'):
            self.logger.warning(
                f'Checkpoint "{filename}" records no class names: only its '
                'weights were checked against the model.')
        self._has_loaded = True
        self.logger.info(f'Load checkpoint strictly from {filename}')
        return checkpoint

    def resume(self, filename: str, *args, **kwargs) -> None:
        """MMEngine's resume (through the strict :meth:`load_checkpoint`),
        then the removal of stale temporaries of this work dir."""
        super().resume(filename, *args, **kwargs)
        if not is_main_process():
            return
        for where in (self.work_dir, osp.join(self.work_dir,
                                               'reconstruction')):
            for path in remove_stale_temporaries(where):
                self.logger.info(
                    f'Removed {path}, left by a write that was interrupted')
