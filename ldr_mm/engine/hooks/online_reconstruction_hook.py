"""One-stage LDR: stage 2's closed-form head refitted during stage 1.

During stage-1 training the class-aware features (``LDRNeck`` output,
(B, C, D)) of every training batch go into a float64
:class:`~ldr_mm.reconstruction.GaussianAccumulator`; at every refit (epoch
end, or every ``interval`` iterations of an iteration-based loop) the
per-class, per-label Gaussians are computed from it and the head the
recommended stage 2 fits (``lda_m_step``: Fisher's LDA blended with the
trained head, rescaled to its norm) is solved from them in closed form. No
sampling, no extra pass over the data (unless ``eval_pass=True``).

The trained head keeps training (the optimiser never sees the refitted
one); the refitted head is what is validated, what every checkpoint holds
in ``state_dict`` (so ``tools/test.py`` and ``load_from`` get it), and what
the model holds after training. The trained head, the accumulator and the
refitted head go into the checkpoint under ``ldr_online_reconstruction``;
``--resume`` puts the trained head back, so a resumed run equals an
uninterrupted one. Design and measurements: ``docs/recipe.md`` ("One-stage
LDR").
"""
import time
from typing import Optional, Tuple

import torch
from mmengine.dist import broadcast, get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

from ldr_mm.models.heads.label_mask import gt_mask_of
from ldr_mm.reconstruction import (GaussianAccumulator,
                                   build_statistics_dataloader,
                                   build_statistics_source,
                                   estimate_class_statistics, lda_m_step,
                                   sampling_probability,
                                   statistics_loader_options)

STATE_KEY = 'ldr_online_reconstruction'
STATISTICS = ('epoch', 'ema')
LDA_KEYS = ('blend', 'scale', 'pooling')


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _check_options(statistics, momentum, ema_epochs, m_solver,
                   interval) -> dict:
    """Validate the options; returns the ``lda_m_step`` keyword options."""
    if statistics not in STATISTICS:
        raise ValueError(f'OnlineReconstructionHook: statistics must be one '
                         f'of {STATISTICS}, got {statistics!r}')
    if ema_epochs is not None and not (
            isinstance(ema_epochs, (int, float)) and ema_epochs > 0):
        raise ValueError('OnlineReconstructionHook: ema_epochs must be a '
                         f'number > 0 or None, got {ema_epochs!r}')
    if statistics == 'ema' and not 0 < momentum < 1:
        raise ValueError('OnlineReconstructionHook: momentum must be in '
                         f'(0, 1) for statistics=\'ema\', got {momentum!r}')
    if isinstance(interval, bool) or not isinstance(interval, int) \
            or interval < 1:
        raise ValueError('OnlineReconstructionHook: interval must be an int '
                         f'>= 1, got {interval!r}')
    cfg = dict(m_solver)
    if cfg.pop('type', 'lda') != 'lda' or set(cfg) - set(LDA_KEYS):
        raise ValueError(
            'OnlineReconstructionHook: m_solver must be dict(type=\'lda\', '
            f'{", ".join(LDA_KEYS)}) (the closed form; the sampling solvers '
            f'need stage 2), got {m_solver!r}')
    return cfg


@HOOKS.register_module()
class OnlineReconstructionHook(Hook):
    """Refit stage 2's closed-form head from streaming statistics (stage 1).

    Args:
        statistics (str): ``'epoch'``: the sums are reset after every refit,
            so each refit sees the features of the training batches since
            the last one (one epoch by default). ``'ema'``: the sums decay by
            ``1 - momentum`` every iteration (an exponential moving average
            of n, sum x and sum x x^T) and are never reset. The decay of
            sum x x^T is deferred to the accumulator's next flush
            (:meth:`GaussianAccumulator.scale_`), so an iteration costs what
            plain accumulation costs.
        momentum (float): Per-iteration decay of ``'ema'`` (a time
            constant of ``1 / momentum`` iterations). Defaults to 0.01.
        ema_epochs (float, optional): The time constant of ``'ema'`` in
            epochs instead: ``momentum = 1 / (ema_epochs * iterations per
            epoch)`` (the training loader's length), so the same setting
            fits datasets of any size. Defaults to None (use ``momentum``).
        interval (int): Refit every ``interval`` epochs (epoch-based loops)
            or iterations (iteration-based loops), and always at the end of
            training. Defaults to 1.
        eval_pass (bool): The last refit uses stage 2's statistics pass
            (eval mode, the test pipeline, every training image once)
            instead of the accumulated train-mode features. Defaults to
            False.
        m_solver (dict): ``dict(type='lda', blend=, scale=, pooling=)``, the
            options of ``lda_m_step``; the trained head is the blend's
            anchor. Defaults to stage 2's ``blend=0.5``.
        sampler (dict): ``mode``, ``alpha``, ``eps`` of the label-1
            probability p_c (Eq. 12) that sets the LDA bias, as stage 2's
            ``ReverseSampler``. Defaults to the paper's.
        cov_type (str): ``'full'`` or ``'diag'``. Defaults to 'full'.
        shrinkage ('auto' | 'pooled' | float): Of
            :meth:`GaussianAccumulator.compute`. Defaults to 'auto'.
        ridge (float): Relative ridge. Defaults to 1e-3.
    """
    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW) at epoch end

    def __init__(self,
                 statistics: str = 'epoch',
                 momentum: float = 0.01,
                 ema_epochs: Optional[float] = None,
                 interval: int = 1,
                 eval_pass: bool = False,
                 m_solver: dict = dict(type='lda', blend=0.5),
                 sampler: dict = dict(mode='reverse', alpha=0.9, eps=1e-9),
                 cov_type: str = 'full',
                 shrinkage='auto',
                 ridge: float = 1e-3) -> None:
        self.lda_options = _check_options(statistics, momentum, ema_epochs,
                                          m_solver, interval)
        self.ema_epochs = ema_epochs
        self.statistics, self.momentum = statistics, float(momentum)
        self.interval, self.eval_pass = interval, bool(eval_pass)
        sampler = dict(sampler)
        sampler.pop('type', None)
        self.sampler = sampler
        self.cov_type, self.shrinkage, self.ridge = cov_type, shrinkage, \
            float(ridge)
        self.acc: Optional[GaussianAccumulator] = None
        self.refit_head: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self.refits = 0
        self._samples = None
        self._handles = []
        self._stashed = None
        self.seconds = 0.0  # spent in the hook's updates and refits

    # -- capturing the training features ---------------------------------
    def before_train(self, runner) -> None:
        model = _unwrap(runner.model)
        head = self._head = model.head
        device = next(model.parameters()).device
        if self.statistics == 'ema' and self.ema_epochs is not None:
            self.momentum = 1 / (self.ema_epochs * len(
                runner.train_dataloader))
        if self.acc is None:  # not restored by --resume
            self.acc = GaussianAccumulator(head.num_classes,
                                           head.in_channels,
                                           cov_type=self.cov_type,
                                           device=device)
        self._handles = [
            model.register_forward_pre_hook(self._capture_samples,
                                            with_kwargs=True),
            model.neck.register_forward_hook(self._capture_features)
        ]
        runner.logger.info(
            f'One-stage LDR: the head is refitted ({self.lda_options}, '
            f'statistics={self.statistics!r}'
            + (f' (momentum {self.momentum:.4g})'
               if self.statistics == 'ema' else '')
            + f', every {self.interval} '
            f'{"epoch" if self._by_epoch(runner) else "iteration"}(s), '
            f'eval_pass={self.eval_pass}) from the class-aware features of '
            'the training batches.')

    def _capture_samples(self, module, args, kwargs) -> None:
        self._samples = kwargs.get('data_samples') if (
            module.training and kwargs.get('mode') == 'loss') else None

    def _capture_features(self, module, args, output) -> None:
        samples, self._samples = self._samples, None
        if samples is None or not module.training:
            return
        t0 = time.perf_counter()
        x = output[-1] if isinstance(output, (tuple, list)) else output
        head = self._head
        labels = head.targets(samples, x.device) >= 0.5
        if self.statistics == 'ema':
            self.acc.scale_(1 - self.momentum)
        self.acc.update(x, labels, gt_mask_of(samples, labels.shape[1],
                                              x.device))
        self.seconds += time.perf_counter() - t0

    def after_run(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    # -- refitting ------------------------------------------------------
    @staticmethod
    def _by_epoch(runner) -> bool:
        from mmengine.runner import EpochBasedTrainLoop
        return isinstance(runner.train_loop, EpochBasedTrainLoop)

    def after_train_epoch(self, runner) -> None:
        if self._by_epoch(runner) and (
                self.every_n_epochs(runner, self.interval)
                or self.is_last_train_epoch(runner)):
            self.refit(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if not self._by_epoch(runner) and (
                self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            self.refit(runner)

    def refit(self, runner) -> None:
        """Statistics -> closed-form head (every rank; collective)."""
        model = _unwrap(runner.model)
        self._head = model.head
        t0 = time.perf_counter()
        stats = self._statistics(runner)
        head = model.head
        trained = (head.weight.detach().clone(), head.bias.detach().clone())
        weight, bias = (t.clone() for t in trained)
        prob = sampling_probability(
            stats.positive_counts, num_samples=stats.known_counts,
            classes=stats.classes, **self.sampler)
        unchanged = lda_m_step(weight, bias, stats.to(weight.device), prob,
                               anchor=trained, **self.lda_options)
        if get_dist_info()[1] > 1:  # bit-identical heads on every rank
            broadcast(weight, src=0)
            broadcast(bias, src=0)
        self.refit_head = (weight, bias)
        self.refits += 1
        self.seconds += time.perf_counter() - t0
        runner.logger.info(
            f'One-stage LDR: head refitted at epoch {runner.epoch + 1}, '
            f'iteration {runner.iter + 1} from {stats.num_samples} samples '
            f'in {time.perf_counter() - t0:.2f} s'
            + (f'; classes kept: {unchanged}' if unchanged else ''))

    def _statistics(self, runner):
        """The Gaussians of this refit; resets / consolidates the sums."""
        dataset = runner.train_dataloader.dataset
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        last = (self.is_last_train_epoch(runner) if self._by_epoch(runner)
                else self.is_last_train_iter(runner))
        self.acc.all_reduce()
        if self.eval_pass and last:
            source = build_statistics_source(runner.cfg, dataset, {})
            loader = build_statistics_dataloader(
                source, seed=runner.seed or 0,
                **statistics_loader_options(runner.cfg, {}))
            stats, _ = estimate_class_statistics(
                runner.model, loader, cov_type=self.cov_type,
                shrinkage=self.shrinkage, ridge=self.ridge, classes=classes)
        else:
            stats = self.acc.compute(shrinkage=self.shrinkage,
                                     ridge=self.ridge, classes=classes)
        # 'epoch' starts afresh; 'ema' keeps the all-reduced sums on rank 0
        # only, so the sum over ranks is unchanged and a checkpoint (written
        # by rank 0) holds all of it
        if self.statistics == 'epoch' or get_dist_info()[0] != 0:
            self.acc.scale_(0.0)
        return stats

    # -- validation, checkpoints, end of training -----------------------
    def _swap_in(self, model) -> None:
        head = model.head
        self._stashed = (head.weight.detach().clone(),
                         head.bias.detach().clone())
        with torch.no_grad():
            head.weight.copy_(self.refit_head[0])
            head.bias.copy_(self.refit_head[1])

    def before_val_epoch(self, runner) -> None:
        if self.refit_head is not None and self._handles:
            self._swap_in(_unwrap(runner.model))

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._stashed is not None:
            head = _unwrap(runner.model).head
            with torch.no_grad():
                head.weight.copy_(self._stashed[0])
                head.bias.copy_(self._stashed[1])
            self._stashed = None

    def after_train(self, runner) -> None:
        """The model keeps the refitted head after training."""
        runner.logger.info(
            f'One-stage LDR: {self.seconds:.1f} s in statistics updates and '
            f'{self.refits} refits over this run (this process)')
        if self.refit_head is not None:
            self._swap_in(_unwrap(runner.model))
            self._stashed = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.acc is None:
            return
        sd = checkpoint['state_dict']
        trained = (sd['head.weight'].clone(), sd['head.bias'].clone())
        if self._stashed is not None:  # saved during validation
            trained = tuple(t.cpu() for t in self._stashed)
        checkpoint[STATE_KEY] = dict(
            version=1,
            statistics=self.statistics,
            sums={k: v.cpu() for k, v in self.acc.state_dict().items()
                  if k != 'cov_type'},
            trained_head=list(trained),
            refit_head=None if self.refit_head is None else
            [t.cpu() for t in self.refit_head],
            refits=self.refits)
        if self.refit_head is not None:
            sd['head.weight'] = self.refit_head[0].cpu().clone()
            sd['head.bias'] = self.refit_head[1].cpu().clone()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(STATE_KEY)
        if not getattr(runner, '_resume', False) or state is None:
            return  # testing / load_from: the refitted head is loaded
        if state.get('statistics') != self.statistics:
            raise ValueError(
                f'--resume: the checkpoint\'s one-stage statistics are '
                f'{state.get("statistics")!r}, the config says '
                f'{self.statistics!r}; resume with the same config.')
        # the model goes on training its own head
        checkpoint['state_dict']['head.weight'] = state['trained_head'][0]
        checkpoint['state_dict']['head.bias'] = state['trained_head'][1]
        self._restore(runner, state)

    def _restore(self, runner, state: dict) -> None:
        model = _unwrap(runner.model)
        device = next(model.parameters()).device
        sums = state['sums']
        C, D = sums['s'].shape[0], sums['s'].shape[-1]
        if (sums['ss'].dim() == 4) != (self.cov_type == 'full'):
            raise ValueError(
                '--resume: the checkpoint\'s one-stage statistics have '
                f'{"full" if sums["ss"].dim() == 4 else "diag"} covariances, '
                f'the config says cov_type={self.cov_type!r}.')
        self.acc = GaussianAccumulator(C, D, cov_type=self.cov_type,
                                       device=device)
        if get_dist_info()[0] == 0:  # other ranks start from zero sums
            for key in ('n', 's', 'ss'):
                getattr(self.acc, key).copy_(sums[key])
        head = state.get('refit_head')
        self.refit_head = None if head is None else tuple(
            t.to(device) for t in head)
        self.refits = int(state.get('refits', 0))
