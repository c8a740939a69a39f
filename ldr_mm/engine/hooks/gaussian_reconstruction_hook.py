"""Checkpoint state and start-up checks of LDRNet stage 2."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from mmpretrain.registry import HOOKS, LOOPS

from ldr_mm.utils import check_same_classes

STATE_KEY = 'ldr_reconstruction'


@HOOKS.register_module()
class GaussianReconstructionHook(Hook):
    """Persistence of :class:`~ldr_mm.engine.EMTrainLoop` (stage 2).

    The loop runs the rounds (statistics, M-step, E-step) and registers
    this hook unless ``custom_hooks`` lists it; the hook

    * checks before the run that the loop is an ``EMTrainLoop`` and the
      model a frozen-head ``LDRStage2Classifier``, and before training that
      the stage-1 checkpoint's class names equal the training dataset's;
    * stores the loop's :meth:`~ldr_mm.engine.EMTrainLoop.state_dict`
      (round bookkeeping, the M-step solver's state, the current
      statistics)
      under the checkpoint key ``ldr_reconstruction`` and restores it on
      ``--resume``; resuming from a checkpoint without it (a stage-1
      checkpoint) is refused.

    It takes no arguments: every stage-2 option is in ``train_cfg``.
    """
    priority = 'NORMAL'  # after TrainRNGStateHook (VERY_HIGH)

    def __init__(self, **options) -> None:
        if options:
            raise TypeError(
                f'GaussianReconstructionHook takes no options (got '
                f'{sorted(options)}): the stage-2 options moved to the loop, '
                "train_cfg=dict(type='EMTrainLoop', rounds=R, e_iters=E, "
                'm_iters=M, ...); see configs/ldrnet/ldr_r18_demo_stage2.py.')

    @staticmethod
    def _loop(runner):
        loop = runner.train_loop
        if not isinstance(loop, LOOPS.get('EMTrainLoop')):
            raise TypeError(
                'GaussianReconstructionHook runs with the stage-2 loop: set '
                "train_cfg = dict(type='EMTrainLoop', rounds=R, e_iters=E, "
                f'...), got {type(loop).__name__}.')
        return loop

    def before_run(self, runner) -> None:
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # testing (tools/test.py): no train loop is built
        loop = self._loop(runner)
        model = loop.model
        if any(p.requires_grad for p in model.classifier_parameters()):
            raise RuntimeError(
                'The classifier of the stage-2 model is not frozen; '
                'LDRStage2Classifier freezes it at construction. Something '
                'unfroze it before training.')
        runner.logger.info(
            f'Stage 2: {loop.rounds} rounds of (statistics, M-step '
            f'{loop.m_solver!r}, {loop.e_iters} E-step iterations); '
            f'sampler {loop.sampler_cfg}, cov_type={loop.cov_type}.')

    def before_train(self, runner) -> None:
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        dataset = runner.train_dataloader.dataset
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        ck_classes = getattr(model, 'stage1_classes', None)
        check_same_classes(
            classes, ck_classes,
            f'The stage-1 checkpoint "{model.stage1_checkpoint}" vs the '
            'training dataset',
            'Stage 2 must fine-tune a stage-1 model of the same dataset.',
            error=ValueError)
        if ck_classes is None and model.stage1_meta is not None:
            runner.logger.warning(
                f'The stage-1 checkpoint "{model.stage1_checkpoint}" records '
                'no class names; only its shapes were checked.')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[STATE_KEY] = self._loop(runner).state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:
            return
        state = checkpoint.get(STATE_KEY)
        if state is None:
            raise RuntimeError(
                'Resuming stage 2 from a checkpoint without stage-2 state '
                '(a stage-1 checkpoint?). Start stage 2 from a stage-1 '
                'checkpoint with model.stage1_checkpoint=PATH, without '
                '--resume.')
        self._loop(runner).load_state_dict(state)
