"""What every M-step solver is: :class:`BaseMStepSolver` and its builder.

A solver fits the group-wise linear classifier ``logit_c = <w_c, x_c> +
b_c`` (the head's weight (C, D), bias (C,)) to the round's Gaussian
statistics. It is registered in MMPretrain's ``TASK_UTILS`` (as the
:class:`~ldr_mm.reconstruction.ReverseSampler` is) and named by the
stage-2 loop's ``train_cfg.m_solver``: a registered name or ``dict(type=
name, **options)``. :class:`~ldr_mm.engine.EMTrainLoop` builds it once
(:func:`build_m_solver`), calls :meth:`BaseMStepSolver.setup` with the
head, and in every round :meth:`BaseMStepSolver.fit`; the solver's
:meth:`~BaseMStepSolver.state_dict` goes into the loop's checkpoint state.
Adding a solver: docs/architecture.md.
"""
import inspect
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.dist import broadcast, get_world_size

from mmpretrain.registry import TASK_UTILS


def broadcast_head(params: Sequence[torch.Tensor], src: int = 0) -> None:
    """Copy ``params`` from rank ``src`` to all ranks (no-op alone)."""
    if get_world_size() > 1:
        for p in params:
            broadcast(p.data, src=src)


class BaseMStepSolver:
    """One M-step solver: options in ``__init__``, the fit in :meth:`fit`.

    Class attributes:
        per_rank_samples (bool): False (default): the loop seeds the
            virtual samples the same on every rank and :meth:`sync` then
            copies rank 0's head to all ranks (deterministic solvers).
            True: every rank draws its own samples and the solver keeps the
            ranks' heads equal itself (e.g. by averaging gradients).
    """
    per_rank_samples = False

    def __repr__(self) -> str:
        """The class and its plain options (for the log)."""
        opts = ', '.join(f'{k}={v!r}' for k, v in vars(self).items()
                         if isinstance(v, (int, float, str, dict)))
        return f'{type(self).__name__}({opts})'

    def setup(self, head: torch.nn.Module) -> None:
        """Called once by the loop before training, with the classifier
        trainable (build optimisers over ``head`` here)."""

    def fit(self, head: torch.nn.Module, stats, sampler,
            generator: torch.Generator) -> dict:
        """Fit ``head`` (its ``weight`` (C, D) and ``bias`` (C,)) in place.

        Args:
            head (nn.Module): The classifier (``LDRHead``), trainable
                inside the call.
            stats (GaussianStatistics): The round's estimate.
            sampler (ReverseSampler): Fitted to ``stats``; ``sampler.prob``
                (C,) is the probability of label 1 in the virtual data.
            generator (torch.Generator): Source of the virtual samples.

        Returns:
            dict: ``losses`` (list[float], may be empty) and ``unchanged``
            (list[int], classes the solver left as they were).
        """
        raise NotImplementedError

    def sync(self, params: Sequence[torch.Tensor]) -> None:
        """Make the ranks' heads equal after :meth:`fit`."""
        if not self.per_rank_samples:
            broadcast_head(params)

    def log_message(self, out: dict,
                    seconds: float) -> Tuple[str, Optional[float]]:
        """The round's log text after ``M-step (name)`` and the scalar
        logged as ``train/m_loss`` (None: nothing logged)."""
        return f' in {seconds:.2f}s (closed form)', None

    def state_dict(self) -> dict:
        """What the solver carries from round to round (checkpoints)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


def m_solver_names() -> List[str]:
    """The registered M-step solvers' names."""
    return sorted(name for name, cls in TASK_UTILS.module_dict.items()
                  if isinstance(cls, type) and
                  issubclass(cls, BaseMStepSolver))


def m_solver_config(m_solver) -> dict:
    """``m_solver`` as ``dict(type=name, **options)``, checked: the name is
    a registered solver and every option an argument of it.

    Raises:
        ValueError: An unknown solver or option, named with the fix.
    """
    cfg = dict(type=m_solver) if isinstance(m_solver, str) else dict(
        m_solver or {})
    cls = TASK_UTILS.get(cfg.get('type')) if isinstance(
        cfg.get('type'), str) else None
    if not (isinstance(cls, type) and issubclass(cls, BaseMStepSolver)):
        raise ValueError(f'm_solver must be one of {m_solver_names()} (or a '
                         f'dict with that type), got {m_solver!r}')
    allowed = set(inspect.signature(cls).parameters) - {'self'}
    unknown = set(cfg) - allowed - {'type'}
    if unknown:
        raise ValueError(f'm_solver {cfg["type"]!r} has no options '
                         f'{sorted(unknown)}; it takes {sorted(allowed)} (a '
                         'config that inherits another solver\'s options: '
                         f'm_solver=dict(_delete_=True, type={cfg["type"]!r}'
                         ', ...))')
    return cfg


def build_m_solver(m_solver, defaults: Optional[dict] = None):
    """Build a registered solver from its name or config.

    Args:
        m_solver (str | dict): Of :func:`m_solver_config`.
        defaults (dict, optional): Values for the solver's arguments of the
            same name that ``m_solver`` does not set (the loop's
            ``m_iters``, ``virtual_batch_size``, ``m_optim_wrapper``,
            ``m_loss``); those the solver does not take are ignored.

    Returns:
        BaseMStepSolver: The solver.
    """
    cfg = m_solver_config(m_solver)
    params = inspect.signature(TASK_UTILS.get(cfg['type'])).parameters
    default_args = {k: v for k, v in (defaults or {}).items()
                    if k in params and k not in cfg}
    return TASK_UTILS.build(cfg, default_args=default_args)
