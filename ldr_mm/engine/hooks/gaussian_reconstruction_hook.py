"""Drive LDRNet stage 2: statistics, reverse sampling and the EM rounds."""
import contextlib
import copy
import os.path as osp
import random
import time
from typing import List, Optional, Union

import numpy as np
import torch
from mmengine.dist import all_reduce, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import build_optim_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmpretrain.registry import DATASETS, HOOKS, MODELS, TASK_UTILS

from ldr_mm.reconstruction import (GaussianStatistics,
                                   build_statistics_dataloader,
                                   estimate_class_statistics,
                                   statistics_dataset)

STATE_KEY = 'ldr_reconstruction'
STATE_VERSION = 1


def _find_pipeline(ds_cfg) -> Optional[list]:
    """The ``pipeline`` of a dataset config, looking inside wrappers."""
    if not ds_cfg:
        return None
    if ds_cfg.get('pipeline') is not None:
        return list(ds_cfg['pipeline'])
    if ds_cfg.get('dataset') is not None:
        return _find_pipeline(ds_cfg['dataset'])
    if ds_cfg.get('datasets'):
        return _find_pipeline(ds_cfg['datasets'][0])
    return None


@contextlib.contextmanager
def preserved_global_rng():
    """Restore the global python, numpy and torch (CPU, CUDA) RNG states on
    exit: whatever runs inside cannot shift the training random stream."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), \
        torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if (
        torch.cuda.is_available() and torch.cuda.is_initialized()) else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _round_seed(seed: int, round_idx: int, rank: int, stream: int) -> int:
    """A 63-bit seed for (seed, round, rank, stream), decorrelated."""
    state = np.random.SeedSequence(
        [int(seed) % 2**32, round_idx, rank, stream]).generate_state(
            2, dtype=np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & (2**63 - 1)


@HOOKS.register_module()
class GaussianReconstructionHook(Hook):
    """LDRNet stage 2 (Sec. 3.4) on MMEngine's ``IterBasedTrainLoop``.

    Training is ``R = max_iters / e_iters`` rounds. A round starts (in
    ``before_train_iter`` of iteration ``r * e_iters``) with

    1. **statistics**: one pass of the model in eval mode over the training
       set with the test pipeline, split over ranks without padding, float64
       sums all-reduced (:func:`~ldr_mm.reconstruction.
       estimate_class_statistics`), written to
       ``work_dir/reconstruction/stats_round{r}.pth``;
    2. **M-step**: ``m_iters`` updates of the classifier only, on batches of
       ``virtual_batch_size`` virtual features drawn by the sampler
       (``ReverseSampler``, Eqs. 12-14), loss ``m_loss`` (BCE). Under DDP
       every rank draws different samples (rank-dependent seeds) and the
       head gradients are averaged by hand (the head is outside the DDP
       reducer, see :class:`~ldr_mm.models.LDRStage2Classifier`). The head's
       own optimiser (``m_optim_wrapper``) is owned by this hook;

    followed by ``e_iters`` ordinary training iterations, the **E-step**:
    backbone and neck trained on real images through the frozen classifier
    with the head's loss (``MultiLabelGCELoss`` in stage-2 configs) by the
    runner's ``optim_wrapper`` (so ``--amp`` works as usual).

    Exact resume: the statistics pass and the M-step of a round complete
    inside one iteration, so a checkpoint (saved after any iteration) holds
    either none or all of a round's M-step. The checkpoint stores the round
    bookkeeping, the head optimiser state and (``stats_in_checkpoint``) the
    round's statistics. Virtual samples come from a ``torch.Generator``
    seeded from (seed, round, rank) -- never the global RNG -- the
    statistics loader has its own generator and sampler seed, and the
    global python / numpy / torch RNG states are restored after each round,
    so a round never shifts the training random stream (data augmentation
    in the main process, dropout; see ``TrainRNGStateHook``).

    Args:
        e_iters (int): E-step iterations per round; ``train_cfg.max_iters``
            must be a multiple of it.
        m_iters (int): M-step iterations per round. Defaults to 100.
        virtual_batch_size (int): Virtual samples per M-step iteration.
            Defaults to 32 (the paper's batch size).
        sampler (dict): ``ReverseSampler`` config (TASK_UTILS): ``mode``
            'reverse' | 'uniform' | 'natural', ``alpha``, ``eps``.
        cov_type (str): 'full' or 'diag'. Defaults to 'full'.
        shrinkage ('auto' | float): See
            :mod:`ldr_mm.reconstruction.statistics`. Defaults to 'auto'.
        ridge (float): Relative ridge. Defaults to 1e-3.
        m_optim_wrapper (dict): Optimiser wrapper of the classifier in the
            M-step. Defaults to the paper's Adam (lr 1e-4, betas (0.9,
            0.999), weight decay 1e-5), constant learning rate.
        m_loss (dict): M-step loss (MODELS). Defaults to BCE with logits,
            averaged over B x C.
        stats_dataloader (dict, optional): Overrides for the statistics
            loader: ``batch_size`` (default: the val loader's, else the train
            loader's), ``num_workers`` (default: the train loader's),
            ``pipeline`` (default: the test loader's, else the val loader's)
            and ``dataset`` (a dataset config; default: the training dataset
            with that pipeline).
        seed (int, optional): Base seed of the virtual samples. Defaults to
            the runner's seed.
        save_stats (bool): Write each round's statistics to the work dir.
            Defaults to True.
        stats_in_checkpoint (bool): Store the current statistics in
            checkpoints (C x 2 x D x D float64 for 'full': 42 MB for C=10,
            D=512, 940 MB for C=14, D=2048). Resume does not need them (see
            above); they make a checkpoint self-describing. Defaults to True.
    """
    priority = 'NORMAL'  # after TrainRNGStateHook (VERY_HIGH)

    def __init__(self,
                 e_iters: int,
                 m_iters: int = 100,
                 virtual_batch_size: int = 32,
                 sampler: dict = dict(
                     type='ReverseSampler', mode='reverse', alpha=0.9,
                     eps=1e-9),
                 cov_type: str = 'full',
                 shrinkage: Union[str, float] = 'auto',
                 ridge: float = 1e-3,
                 m_optim_wrapper: dict = dict(
                     type='OptimWrapper',
                     optimizer=dict(
                         type='Adam', lr=1e-4, betas=(0.9, 0.999),
                         weight_decay=1e-5)),
                 m_loss: dict = dict(
                     type='CrossEntropyLoss', use_sigmoid=True),
                 stats_dataloader: Optional[dict] = None,
                 seed: Optional[int] = None,
                 save_stats: bool = True,
                 stats_in_checkpoint: bool = True):
        for name, value, low in (('e_iters', e_iters, 1),
                                 ('m_iters', m_iters, 0),
                                 ('virtual_batch_size', virtual_batch_size,
                                  1)):
            if int(value) != value or value < low:
                raise ValueError(f'GaussianReconstructionHook: {name} must be '
                                 f'an integer >= {low}, got {value!r}')
        if cov_type not in ('full', 'diag'):
            raise ValueError(f"cov_type must be 'full' or 'diag', got "
                             f'{cov_type!r}')
        self.e_iters = int(e_iters)
        self.m_iters = int(m_iters)
        self.virtual_batch_size = int(virtual_batch_size)
        self.sampler_cfg = copy.deepcopy(sampler)
        self.cov_type = cov_type
        self.shrinkage = shrinkage
        self.ridge = float(ridge)
        self.m_optim_wrapper_cfg = copy.deepcopy(m_optim_wrapper)
        self.m_loss_cfg = copy.deepcopy(m_loss)
        self.stats_dataloader_cfg = dict(stats_dataloader or {})
        unknown = set(self.stats_dataloader_cfg) - {
            'batch_size', 'num_workers', 'pipeline', 'dataset', 'pin_memory'
        }
        if unknown:
            raise ValueError(
                f'Unknown stats_dataloader keys {sorted(unknown)}')
        self.seed = seed
        self.save_stats = save_stats
        self.stats_in_checkpoint = stats_in_checkpoint

        self.sampler = TASK_UTILS.build(self.sampler_cfg)
        self.m_loss = MODELS.build(self.m_loss_cfg)
        self.m_optim_wrapper = None
        self.stats: Optional[GaussianStatistics] = None
        self.round_done = -1  # last round whose statistics + M-step ran
        self.history: List[dict] = []
        self._stats_dataset = None

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _base_seed(self, runner) -> int:
        return int(self.seed if self.seed is not None else runner.seed)

    def num_rounds(self, runner) -> int:
        return runner.train_loop.max_iters // self.e_iters

    # -------------------------------------------------------------- hooks
    def before_run(self, runner) -> None:
        model = self._model(runner)
        if not hasattr(model, 'classifier_trainable'):
            raise TypeError(
                'GaussianReconstructionHook needs model type='
                f'"LDRStage2Classifier", got {type(model).__name__}: its '
                'classifier must be frozen before the model is wrapped in '
                'DDP.')
        if any(p.requires_grad for p in model.classifier_parameters()):
            raise RuntimeError(
                'The classifier of the stage-2 model is not frozen; '
                'LDRStage2Classifier freezes it at construction. Something '
                'unfroze it before training.')
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop) or not hasattr(
                loop, 'max_iters'):
            raise TypeError(
                'GaussianReconstructionHook runs on an iteration-based loop: '
                "set train_cfg = dict(type='IterBasedTrainLoop', max_iters="
                'rounds * e_iters, val_interval=e_iters).')
        if loop.max_iters % self.e_iters != 0:
            raise ValueError(
                f'train_cfg.max_iters={loop.max_iters} is not a multiple of '
                f'the hook\'s e_iters={self.e_iters}: stage 2 runs whole '
                'rounds (max_iters = rounds * e_iters).')
        with model.classifier_trainable():
            self.m_optim_wrapper = build_optim_wrapper(
                model.head, copy.deepcopy(self.m_optim_wrapper_cfg))
        runner.logger.info(
            f'Stage 2: {self.num_rounds(runner)} rounds of (statistics, '
            f'{self.m_iters} M-step iterations x {self.virtual_batch_size} '
            f'virtual samples, {self.e_iters} E-step iterations); sampler '
            f'{self.sampler_cfg}, cov_type={self.cov_type}.')

    def before_train(self, runner) -> None:
        model = self._model(runner)
        dataset = runner.train_dataloader.dataset
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        ck_classes = getattr(model, 'stage1_classes', None)
        if classes is not None and ck_classes is not None and list(
                classes) != list(ck_classes):
            raise ValueError(
                f'The stage-1 checkpoint "{model.stage1_checkpoint}" was '
                f'trained on the classes {list(ck_classes)}, but the '
                f'training dataset has {list(classes)}. Stage 2 must '
                'fine-tune a stage-1 model of the same dataset.')
        if ck_classes is None and model.stage1_meta is not None:
            runner.logger.warning(
                f'The stage-1 checkpoint "{model.stage1_checkpoint}" records '
                'no class names; only its shapes were checked.')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        it = runner.iter
        if it % self.e_iters != 0:
            return
        r = it // self.e_iters
        if r <= self.round_done:
            return
        with preserved_global_rng():
            self.run_round(runner, r)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(
            version=STATE_VERSION,
            e_iters=self.e_iters,
            round_done=self.round_done,
            history=[dict(h) for h in self.history],
            m_optim_wrapper=self.m_optim_wrapper.state_dict()
            if self.m_optim_wrapper is not None else None,
            stats=self.stats.to_dict()
            if (self.stats is not None and self.stats_in_checkpoint) else
            None)
        checkpoint[STATE_KEY] = state

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
        if state.get('version') != STATE_VERSION:
            raise RuntimeError(
                f'Unsupported stage-2 state version {state.get("version")!r}')
        if state['e_iters'] != self.e_iters:
            raise ValueError(
                f'The checkpoint was trained with e_iters={state["e_iters"]} '
                f'per round, the config says {self.e_iters}; resuming would '
                'break the round structure.')
        self.round_done = int(state['round_done'])
        self.history = [dict(h) for h in state.get('history', [])]
        if state.get('m_optim_wrapper') is not None:
            self.m_optim_wrapper.load_state_dict(state['m_optim_wrapper'])
        if state.get('stats') is not None:
            device = next(self._model(runner).parameters()).device
            self.stats = GaussianStatistics.from_dict(
                state['stats'], where='checkpoint')
            self.sampler.fit(self.stats, device=device)

    # ------------------------------------------------------------- rounds
    def _statistics_loader(self, runner, round_idx: int):
        cfg = runner.cfg
        opts = self.stats_dataloader_cfg
        if self._stats_dataset is None:
            pipeline = opts.get('pipeline')
            if pipeline is None:
                for key in ('test_dataloader', 'val_dataloader'):
                    pipeline = _find_pipeline(
                        (cfg.get(key) or {}).get('dataset'))
                    if pipeline is not None:
                        break
            if opts.get('dataset') is not None:
                ds_cfg = copy.deepcopy(opts['dataset'])
                if pipeline is not None:
                    ds_cfg['pipeline'] = pipeline
                self._stats_dataset = DATASETS.build(ds_cfg)
            else:
                if pipeline is None:
                    raise ValueError(
                        'No test pipeline for the statistics pass: set '
                        'test_dataloader.dataset.pipeline or the hook\'s '
                        'stats_dataloader=dict(pipeline=[...]).')
                self._stats_dataset = statistics_dataset(
                    runner.train_dataloader.dataset, pipeline)
        train_dl = cfg.get('train_dataloader') or {}
        val_dl = cfg.get('val_dataloader') or {}
        batch_size = (opts.get('batch_size') or val_dl.get('batch_size')
                      or train_dl.get('batch_size') or 32)
        num_workers = opts.get('num_workers', train_dl.get('num_workers', 0))
        collate = train_dl.get('collate_fn')
        collate_fn = None
        if collate is not None:
            from mmengine.registry import FUNCTIONS
            collate = dict(collate)
            collate_fn = FUNCTIONS.get(collate.pop('type'))
            if collate:
                import functools
                collate_fn = functools.partial(collate_fn, **collate)
        rank, _ = get_dist_info()
        return build_statistics_dataloader(
            self._stats_dataset,
            batch_size=int(batch_size),
            num_workers=int(num_workers),
            collate_fn=collate_fn,
            seed=_round_seed(self._base_seed(runner), round_idx, rank, 1),
            pin_memory=bool(opts.get('pin_memory', False)))

    def run_round(self, runner, round_idx: int) -> None:
        """Statistics pass + M-step of round ``round_idx``."""
        model = self._model(runner)
        device = next(model.parameters()).device
        dataset = runner.train_dataloader.dataset
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        n_rounds = self.num_rounds(runner)
        loader = self._statistics_loader(runner, round_idx)
        stats, info = estimate_class_statistics(
            runner.model,
            loader,
            cov_type=self.cov_type,
            shrinkage=self.shrinkage,
            ridge=self.ridge,
            classes=classes)
        self.sampler.fit(stats, device=device)
        seed = self._base_seed(runner)
        stats.extra.update(
            round=round_idx,
            iter=runner.iter,
            sampler=dict(self.sampler_cfg),
            sampling_probability=self.sampler.prob.cpu().tolist(),
            seed=seed,
            world_size=get_dist_info()[1])
        self._log_statistics(runner, round_idx, n_rounds, stats, info)
        if self.save_stats and is_main_process():
            path = osp.join(runner.work_dir, 'reconstruction',
                            f'stats_round{round_idx}.pth')
            stats.save(path)
            runner.logger.info(f'Stage 2 round {round_idx + 1}/{n_rounds}: '
                               f'statistics written to {path}')
        t0 = time.perf_counter()
        losses = self.m_step(runner, round_idx)
        m_seconds = time.perf_counter() - t0
        self.stats = stats.to('cpu')  # the sampler keeps its own factor
        self.round_done = round_idx
        record = dict(
            round=round_idx,
            iter=runner.iter,
            images=info['images'],
            stats_seconds=round(info['seconds'], 3),
            m_seconds=round(m_seconds, 3),
            m_loss_first=losses[0] if losses else None,
            m_loss_last=losses[-1] if losses else None)
        self.history.append(record)
        if losses:
            tail = losses[-max(1, len(losses) // 10):]
            runner.message_hub.update_scalar('train/m_loss',
                                             float(np.mean(tail)))
            runner.logger.info(
                f'Stage 2 round {round_idx + 1}/{n_rounds}: M-step '
                f'{len(losses)} iterations in {m_seconds:.1f}s, loss '
                f'{losses[0]:.4f} -> {float(np.mean(tail)):.4f} (mean of the '
                'last 10%)')

    def m_step(self, runner, round_idx: int) -> List[float]:
        """Train only the classifier on virtual features; returns losses."""
        model = self._model(runner)
        device = next(model.parameters()).device
        rank, world = get_dist_info()
        gen = torch.Generator(device=device)
        gen.manual_seed(_round_seed(self._base_seed(runner), round_idx, rank,
                                    0))
        ow = self.m_optim_wrapper
        losses = []
        with model.classifier_trainable() as params:
            for _ in range(self.m_iters):
                x, y = self.sampler.sample(self.virtual_batch_size, gen)
                logits = model.classify_features(x)
                loss = self.m_loss(logits, y, avg_factor=logits.numel())
                ow.zero_grad()
                ow.backward(loss)
                if world > 1:
                    grads = [p.grad for p in params]
                    flat = torch.cat([g.reshape(-1) for g in grads])
                    all_reduce(flat, op='mean')
                    offset = 0
                    for g in grads:
                        g.copy_(flat[offset:offset + g.numel()].view_as(g))
                        offset += g.numel()
                ow.step()
                losses.append(float(loss.detach()))
            ow.zero_grad()
        return losses

    def _log_statistics(self, runner, round_idx, n_rounds, stats,
                        info) -> None:
        prob = self.sampler.prob.cpu().tolist()
        names = stats.classes or [str(i) for i in range(len(prob))]
        runner.logger.info(
            f'Stage 2 round {round_idx + 1}/{n_rounds}: statistics of '
            f'{info["images"]} images in {info["seconds"]:.1f}s '
            f'(accumulator {info["accumulator_bytes"] / 2**20:.1f} MiB); '
            'positives F_c and p_c: ' + ', '.join(
                f'{n}={int(f)}/{p:.3f}' for n, f, p in zip(
                    names, stats.positive_counts.tolist(), prob)))
        fallback = [e for e in stats.regularisation if e['n'] < 2]
        for e in fallback:
            runner.logger.warning(
                f'Stage 2 round {round_idx + 1}: class "{e["class"]}" label '
                f'{e["label"]}: {e["action"]}')
        deficient = [e for e in stats.regularisation if e['n'] >= 2]
        if deficient:
            lam = stats.shrinkage.tolist()
            runner.logger.info(
                f'Stage 2 round {round_idx + 1}: {len(deficient)} '
                'rank-deficient (n <= D) groups regularised: ' + '; '.join(
                    f'{e["class"]}/{e["label"]} n={e["n"]} shrinkage='
                    f'{lam[e["class_index"]][e["label"]]:.2f}'
                    for e in deficient))
