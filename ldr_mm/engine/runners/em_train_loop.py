"""LDRNet stage 2 as a training loop: rounds of statistics, M-step, E-step."""
import copy
import os.path as osp
import time
from typing import List, Optional, Union

import torch
from mmengine.dist import get_dist_info, is_main_process
from mmengine.hooks import CheckpointHook, LoggerHook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop, set_random_seed

from mmpretrain.registry import LOOPS, TASK_UTILS

from ldr_mm.engine.hooks.gaussian_reconstruction_hook import \
    GaussianReconstructionHook
from ldr_mm.reconstruction import (GaussianStatistics,
                                   build_statistics_dataloader,
                                   build_statistics_source,
                                   estimate_class_statistics,
                                   statistics_loader_options)
from ldr_mm.reconstruction.calibration import (calibrate_statistics,
                                               check_calibration)
from ldr_mm.reconstruction.m_step import build_m_solver, m_solver_config
from ldr_mm.reconstruction.estimation import (STATS_LOADER_KEYS,
                                              check_statistics_source)
from ldr_mm.utils.rng import preserved_global_rng, round_seed

#: 2: the solver's state under ``m_solver`` (1: ``m_optim_wrapper`` and
#: ``anchor_head`` at the top, still read)
STATE_VERSION = 2


def _check_schedule(rounds, e_iters, m_iters, virtual_batch_size, max_iters,
                    val_interval) -> None:
    for name, value, low in (('rounds', rounds, 1), ('e_iters', e_iters, 1),
                             ('m_iters', m_iters, 0),
                             ('virtual_batch_size', virtual_batch_size, 1)):
        if int(value) != value or value < low:
            raise ValueError(f'EMTrainLoop: {name} must be an integer >= '
                             f'{low}, got {value!r}')
    if max_iters is not None and max_iters != rounds * e_iters:
        what = ('is not a multiple of' if max_iters % e_iters else
                'disagrees with rounds x')
        raise ValueError(
            f'train_cfg.max_iters={max_iters} {what} e_iters={e_iters} '
            f'(rounds={rounds}): EMTrainLoop runs whole rounds and derives '
            'max_iters = rounds * e_iters; set train_cfg.rounds instead.')
    if val_interval is not None and val_interval != e_iters:
        raise ValueError(
            f'train_cfg.val_interval={val_interval}: EMTrainLoop validates '
            f'after every round (val_interval = e_iters = {e_iters}); drop '
            'val_interval.')


def _check_options(cov_type, stats_dataloader) -> None:
    if cov_type not in ('full', 'diag'):
        raise ValueError(f"cov_type must be 'full' or 'diag', got "
                         f'{cov_type!r}')
    unknown = set(stats_dataloader or {}) - set(STATS_LOADER_KEYS)
    if unknown:
        raise ValueError(f'Unknown stats_dataloader keys {sorted(unknown)} '
                         f'(known: {STATS_LOADER_KEYS})')
    check_statistics_source(stats_dataloader or {})


@LOOPS.register_module()
class EMTrainLoop(IterBasedTrainLoop):
    """LDRNet stage 2 (Sec. 3.4): ``rounds`` EM rounds on MMEngine.

    ``max_iters = rounds * e_iters`` and ``val_interval = e_iters`` are
    derived. Round r (0-based; logs and files count 1-based) starts at
    iteration ``r * e_iters`` with

    1. **statistics**: one pass of the model in eval mode over the training
       set with the test pipeline, split over ranks without padding, float64
       sums all-reduced (:func:`~ldr_mm.reconstruction.
       estimate_class_statistics`), written to
       ``work_dir/reconstruction/stats_round{r+1}.pth``;
    2. **M-step**: the classifier alone, fitted to virtual features of
       the sampler (``ReverseSampler``, Eqs. 12-14) or to the statistics
       by the ``m_solver`` (a registered
       :class:`~ldr_mm.reconstruction.m_step.BaseMStepSolver`);

    then ``e_iters`` ordinary iterations, the **E-step**: backbone and neck
    trained on real images through the frozen classifier with the head's
    loss (GCE) by the runner's ``optim_wrapper`` (``--amp``, schedulers and
    accumulation work as usual). Steps 1-2 run inside the iteration, before
    its hooks, under :func:`~ldr_mm.utils.rng.preserved_global_rng`:
    a checkpoint holds none or all of a round, and a round never shifts the
    training random stream. With ``val_stage1`` the stage-1 model is
    validated before round 1 (candidate 0 for ``save_best``).

    The loop sets up the runner it needs (:meth:`setup_runner`): its
    checkpoint state (:meth:`state_dict`) is saved and restored by
    :class:`~ldr_mm.engine.GaussianReconstructionHook`, which it registers
    unless ``custom_hooks`` has it; an epoch-based ``CheckpointHook`` (the
    stage-1 config's) saves every ``interval`` rounds (iteration-based,
    ``interval * e_iters``; a config that sets ``by_epoch=False`` keeps its
    interval in iterations); logs and validation metrics are by iteration.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The E-step loader.
        rounds (int): EM rounds.
        e_iters (int): E-step iterations per round.
        m_iters (int): M-step iterations per round, for a solver that
            takes ``m_iters`` ('sgd'). Defaults to 100.
        virtual_batch_size (int): Virtual samples per iteration, for a
            solver that takes it ('sgd'). Defaults to 32.
        m_solver (str | dict): A solver registered in TASK_UTILS ('sgd',
            'lbfgs', 'lda', ...: :mod:`ldr_mm.reconstruction.m_step`), or a
            dict with ``type`` and its options. Defaults to 'sgd'.
        sampler (dict): ``ReverseSampler`` config (TASK_UTILS): ``mode``,
            ``alpha``, ``eps``.
        cov_type (str): 'full' or 'diag'. Defaults to 'full'.
        shrinkage ('auto' | float), ridge (float): See
            :mod:`ldr_mm.reconstruction.statistics`.
        calibration (dict, optional): Tail calibration of the positive
            Gaussians after each statistics pass, before the sampler and
            the M-step see them: ``k``, ``max_n``, ``min_donor_n``,
            ``alpha``, ``shift_mean`` of :func:`~ldr_mm.reconstruction.
            calibration.calibrate_statistics`. None (default): off.
        m_optim_wrapper (dict, optional): The classifier's optimiser, for
            a solver that takes it ('sgd', whose default is the paper's
            Adam, lr 1e-4).
        m_loss (dict, optional): The M-step loss (MODELS), for a solver
            that takes it ('sgd': BCE by default).
        stats_dataloader (dict, optional): ``batch_size``, ``num_workers``,
            ``pipeline``, ``dataset``, ``pin_memory``, ``source`` ('train' |
            'train+val') and ``views`` (passes per image, augmented with the
            train pipeline) of the statistics pass (:func:`~ldr_mm.
            reconstruction.build_statistics_source`). The global RNGs are
            seeded per round for the pass (stream 'statistics_views'), so
            random views are reproducible and exactly resumable.
        seed (int, optional): Base seed of the virtual samples. Defaults to
            the runner's seed.
        save_stats (bool): Write each round's statistics. Defaults to True.
        stats_in_checkpoint (bool): Store the current statistics in
            checkpoints (C x 2 x D x D float64 for 'full': 940 MB for C=14,
            D=2048; resume does not need them). Defaults to True.
        val_stage1 (bool): Validate before round 1. Defaults to True.
        max_iters, val_interval (int, optional): Only to catch configs that
            still set them: must equal the derived values.
        val_begin (int): As in ``IterBasedTrainLoop``. Defaults to 1.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 rounds: int,
                 e_iters: int,
                 m_iters: int = 100,
                 virtual_batch_size: int = 32,
                 m_solver: Union[str, dict] = 'sgd',
                 sampler: dict = dict(
                     type='ReverseSampler', mode='reverse', alpha=0.9,
                     eps=1e-9),
                 cov_type: str = 'full',
                 shrinkage: Union[str, float] = 'auto',
                 ridge: float = 1e-3,
                 calibration: Optional[dict] = None,
                 m_optim_wrapper: Optional[dict] = None,
                 m_loss: Optional[dict] = None,
                 stats_dataloader: Optional[dict] = None,
                 seed: Optional[int] = None,
                 save_stats: bool = True,
                 stats_in_checkpoint: bool = True,
                 val_stage1: bool = True,
                 max_iters: Optional[int] = None,
                 val_interval: Optional[int] = None,
                 val_begin: int = 1) -> None:
        _check_schedule(rounds, e_iters, m_iters, virtual_batch_size,
                        max_iters, val_interval)
        _check_options(cov_type, stats_dataloader)
        self.calibration = check_calibration(calibration)
        self.rounds, self.e_iters, self.m_iters = int(rounds), int(
            e_iters), int(m_iters)
        self.virtual_batch_size = int(virtual_batch_size)
        self.m_solver_cfg = m_solver_config(m_solver)
        self.sampler_cfg = copy.deepcopy(dict(sampler))
        self.cov_type, self.shrinkage, self.ridge = cov_type, shrinkage, \
            float(ridge)
        self.stats_dataloader_cfg = dict(stats_dataloader or {})
        self.seed, self.save_stats, self.val_stage1 = seed, save_stats, \
            val_stage1
        self.stats_in_checkpoint = stats_in_checkpoint
        super().__init__(runner, dataloader, self.rounds * self.e_iters,
                         val_begin=val_begin, val_interval=self.e_iters)
        self._check_model()
        self.sampler = TASK_UTILS.build(self.sampler_cfg)
        defaults = dict(m_iters=self.m_iters, m_optim_wrapper=m_optim_wrapper,
                        virtual_batch_size=self.virtual_batch_size,
                        m_loss=m_loss)
        self.m_solver = build_m_solver(
            self.m_solver_cfg,
            {k: v for k, v in defaults.items() if v is not None})
        with self.model.classifier_trainable():
            self.m_solver.setup(self.model.head)
        self.setup_runner(runner)
        self.stats: Optional[GaussianStatistics] = None
        self.round_done = -1  # last round whose statistics + M-step ran
        self.history: List[dict] = []
        self._stats_dataset = None

    def _check_model(self) -> None:
        """Stage 2 needs the stage-2 classifier."""
        if not hasattr(self.model, 'classifier_trainable'):
            raise TypeError(
                'EMTrainLoop needs model type="LDRStage2Classifier", got '
                f'{type(self.model).__name__}: its classifier must be frozen '
                'before the model is wrapped in DDP.')

    def setup_runner(self, runner) -> None:
        """What stage 2 needs of the runner's hooks and logs.

        * :class:`~ldr_mm.engine.GaussianReconstructionHook` (the rounds in
          checkpoints), registered unless the config lists it;
        * an epoch-based ``CheckpointHook`` becomes iteration-based, its
          interval counted in rounds (``interval * e_iters`` iterations);
        * logs and validation metrics by iteration (an iteration loop has
          no epochs).
        """
        if not any(isinstance(h, GaussianReconstructionHook)
                   for h in runner.hooks):
            runner.register_hook(GaussianReconstructionHook())
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and hook.by_epoch:
                hook.by_epoch = False
                hook.interval = hook.interval * self.e_iters
                if hook.filename_tmpl == 'epoch_{}.pth':
                    hook.filename_tmpl = 'iter_{}.pth'
            elif isinstance(hook, LoggerHook):
                hook.log_metric_by_epoch = False
        runner.log_processor.by_epoch = False

    @property
    def model(self):
        """The unwrapped stage-2 model."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @property
    def base_seed(self) -> int:
        return int(self.seed if self.seed is not None else self.runner.seed)

    def run_iter(self, data_batch) -> None:
        """Start a round (statistics + M-step) where one is due, then the
        E-step iteration."""
        r = self._iter // self.e_iters
        if self._iter % self.e_iters == 0 and r > self.round_done:
            with preserved_global_rng():
                if self._iter == 0 and self.val_stage1 and \
                        self.runner.val_loop is not None:
                    self.runner.logger.info(
                        'Stage 2: validating the stage-1 model (candidate 0 '
                        'for save_best)')
                    self.runner.val_loop.run()
                    self.runner.model.train()
                self.run_round(r)
        super().run_iter(data_batch)

    # --------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """Round bookkeeping, the solver's state (e.g. the 'sgd'
        optimiser) and (``stats_in_checkpoint``) the current statistics
        (indices 0-based)."""
        return dict(
            version=STATE_VERSION,
            e_iters=self.e_iters,
            round_done=self.round_done,
            history=[dict(h) for h in self.history],
            m_solver=self.m_solver.state_dict(),
            stats=self.stats.to_dict()
            if (self.stats is not None and self.stats_in_checkpoint) else
            None)

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (refuses another ``e_iters``)."""
        if state.get('version') not in (1, STATE_VERSION):
            raise RuntimeError(
                f'Unsupported stage-2 state version {state.get("version")!r}')
        if state['e_iters'] != self.e_iters:
            raise ValueError(
                f'The checkpoint was trained with e_iters={state["e_iters"]} '
                f'per round, the config says {self.e_iters}; resuming would '
                'break the round structure.')
        self.round_done = int(state['round_done'])
        self.history = [dict(h) for h in state.get('history', [])]
        self.m_solver.load_state_dict(
            state['m_solver'] if state['version'] == STATE_VERSION else dict(
                optim_wrapper=state.get('m_optim_wrapper'),
                anchor_head=state.get('anchor_head')))
        if state.get('stats') is not None:
            device = next(self.model.parameters()).device
            self.stats = GaussianStatistics.from_dict(
                state['stats'], where='checkpoint')
            self.sampler.fit(self.stats, device=device)

    # -------------------------------------------------------------- rounds
    def _statistics_loader(self, round_idx: int):
        runner, opts = self.runner, self.stats_dataloader_cfg
        if self._stats_dataset is None:
            self._stats_dataset = build_statistics_source(
                runner.cfg, runner.train_dataloader.dataset, opts)
        rank, _ = get_dist_info()
        return build_statistics_dataloader(
            self._stats_dataset,
            seed=round_seed(self.base_seed, round_idx, rank,
                            'statistics_loader'),
            **statistics_loader_options(runner.cfg, opts))

    def _estimate(self, round_idx: int):
        """Statistics pass of round ``round_idx``; fits the sampler."""
        dataset = self.runner.train_dataloader.dataset
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        # random views (a train pipeline) draw from the global RNGs: seeded
        # per round and restored afterwards
        with preserved_global_rng():
            set_random_seed(round_seed(self.base_seed, round_idx,
                                       get_dist_info()[0],
                                       'statistics_views') % 2**32)
            stats, info = estimate_class_statistics(
                self.runner.model,
                self._statistics_loader(round_idx),
                cov_type=self.cov_type,
                shrinkage=self.shrinkage,
                ridge=self.ridge,
                classes=classes)
        if self.calibration is not None:
            stats, report = calibrate_statistics(stats, **self.calibration)
            self._log_calibration(round_idx, report)
        self.sampler.fit(stats, device=next(self.model.parameters()).device)
        stats.extra.update(
            round=round_idx + 1,
            iter=self._iter,
            sampler=dict(self.sampler_cfg),
            m_solver=dict(self.m_solver_cfg),
            sampling_probability=self.sampler.prob.cpu().tolist(),
            seed=self.base_seed,
            world_size=get_dist_info()[1],
            stats_source=dict(
                source=self.stats_dataloader_cfg.get('source', 'train'),
                views=int(self.stats_dataloader_cfg.get('views', 1))))
        self._log_statistics(round_idx, stats, info)
        if self.save_stats and is_main_process():
            path = osp.join(self.runner.work_dir, 'reconstruction',
                            f'stats_round{round_idx + 1}.pth')
            stats.save(path)
            self.runner.logger.info(
                f'Stage 2 round {round_idx + 1}/{self.rounds}: statistics '
                f'written to {path}')
        return stats, info

    def m_step(self, round_idx: int, stats: GaussianStatistics) -> dict:
        """The M-step of round ``round_idx``: the solver's ``fit`` with the
        classifier trainable, then its ``sync`` across ranks."""
        device = next(self.model.parameters()).device
        per_rank = self.m_solver.per_rank_samples
        gen = torch.Generator(device=device)
        gen.manual_seed(
            round_seed(self.base_seed, round_idx,
                       get_dist_info()[0] if per_rank else 0, 'virtual'))
        with self.model.classifier_trainable() as params:
            out = self.m_solver.fit(self.model.head, stats, self.sampler,
                                    gen)
            self.m_solver.sync(params)
        return out

    def run_round(self, round_idx: int) -> None:
        """Statistics pass + M-step of round ``round_idx`` (0-based)."""
        stats, info = self._estimate(round_idx)
        t0 = time.perf_counter()
        out = self.m_step(round_idx, stats)
        m_seconds = time.perf_counter() - t0
        self.stats = stats.to('cpu')  # the sampler keeps its own factor
        self.round_done = round_idx
        losses = out['losses']
        self.history.append(dict(
            round=round_idx, iter=self._iter, images=info['images'],
            stats_seconds=round(info['seconds'], 3),
            m_seconds=round(m_seconds, 3),
            m_loss_first=losses[0] if losses else None,
            m_loss_last=losses[-1] if losses else None))
        self._log_m_step(round_idx, out, m_seconds, stats)

    def _log_m_step(self, round_idx, out, m_seconds, stats) -> None:
        head = (f'Stage 2 round {round_idx + 1}/{self.rounds}: M-step '
                f'({self.m_solver_cfg["type"]})')
        logger = self.runner.logger
        if out['unchanged']:
            names = [stats.classes[c] if stats.classes else str(c)
                     for c in out['unchanged']]
            logger.warning(f'{head}: classes {names} kept their classifier '
                           '(a label without samples, or p_c in {0, 1})')
        text, m_loss = self.m_solver.log_message(out, m_seconds)
        if m_loss is not None:
            self.runner.message_hub.update_scalar('train/m_loss',
                                                  float(m_loss))
        logger.info(head + text)

    def _log_calibration(self, round_idx, report) -> None:
        head = f'Stage 2 round {round_idx + 1}/{self.rounds}: calibration'
        done = [e for e in report if e['donors']]
        self.runner.logger.info(
            f'{head}: {len(done)} positive group(s) calibrated' +
            (': ' + '; '.join(
                f'{e["class"]} (n={e["n"]}) <- ' + ', '.join(
                    f'{d} ({x:.3g})' for d, x in zip(e['donors'],
                                                      e['distances']))
                for e in done) if done else ''))
        for e in (e for e in report if not e['donors']):
            self.runner.logger.warning(
                f'{head}: class "{e["class"]}" (n={e["n"]}): {e["action"]}')

    def _log_statistics(self, round_idx, stats, info) -> None:
        prob = self.sampler.prob.cpu().tolist()
        names = stats.classes or [str(i) for i in range(len(prob))]
        logger, head = self.runner.logger, \
            f'Stage 2 round {round_idx + 1}/{self.rounds}'
        logger.info(
            f'{head}: statistics of {info["images"]} images in '
            f'{info["seconds"]:.1f}s (accumulator '
            f'{info["accumulator_bytes"] / 2**20:.1f} MiB); positives F_c and '
            'p_c: ' + ', '.join(f'{n}={int(f)}/{p:.3f}' for n, f, p in zip(
                names, stats.positive_counts.tolist(), prob)))
        for e in (e for e in stats.regularisation if e['n'] < 2):
            logger.warning(f'{head}: class "{e["class"]}" label '
                           f'{e["label"]}: {e["action"]}')
        deficient = [e for e in stats.regularisation if e['n'] >= 2]
        if deficient:
            lam = stats.shrinkage.tolist()
            logger.info(
                f'{head}: {len(deficient)} rank-deficient (n <= D) groups '
                'regularised: ' + '; '.join(
                    f'{e["class"]}/{e["label"]} n={e["n"]} shrinkage='
                    f'{lam[e["class_index"]][e["label"]]:.2f}'
                    for e in deficient))
