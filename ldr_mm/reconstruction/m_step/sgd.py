"""The ``'sgd'`` M-step: optimiser steps on batches of virtual features.

The implementation the paper's text suggests, far from its own optimum on
ill-conditioned statistics. Under DDP every rank draws its own virtual
samples and the head gradients are averaged
(``mmengine.dist.all_reduce_params(op='mean')``), so the ranks' heads stay
equal.
"""
import copy
from typing import Callable, List, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce_params, get_world_size
from mmengine.optim import build_optim_wrapper

from mmpretrain.registry import MODELS, TASK_UTILS

from ..sampler import ReverseSampler
from .base import BaseMStepSolver


def sgd_m_step(classify: Callable[[torch.Tensor], torch.Tensor],
               params: Sequence[torch.nn.Parameter],
               sampler: ReverseSampler,
               optim_wrapper,
               loss_fn: Callable,
               iters: int,
               batch_size: int,
               generator: torch.Generator) -> List[float]:
    """``iters`` optimiser steps of the classifier on virtual batches.

    Args:
        classify (callable): Logits (B, C) of features (B, C, D).
        params (Sequence[Parameter]): The classifier's parameters (trainable
            inside the call); their gradients are averaged over ranks.
        sampler (ReverseSampler): Fitted.
        optim_wrapper (OptimWrapper): Over ``params``.
        loss_fn (callable): ``loss_fn(logits, labels, avg_factor=B*C)``.
        iters (int): Steps.
        batch_size (int): Virtual samples per step.
        generator (torch.Generator): Source of the virtual samples.

    Returns:
        list[float]: The loss of every step.
    """
    losses = []
    world = get_world_size()
    for _ in range(iters):
        x, y = sampler.sample(batch_size, generator)
        logits = classify(x)
        loss = loss_fn(logits, y, avg_factor=logits.numel())
        optim_wrapper.zero_grad()
        optim_wrapper.backward(loss)
        if world > 1:
            all_reduce_params([p.grad for p in params], op='mean')
        optim_wrapper.step()
        losses.append(float(loss.detach()))
    optim_wrapper.zero_grad()
    return losses


@TASK_UTILS.register_module(name=['SGDMStep', 'sgd'])
class SGDMStep(BaseMStepSolver):
    """``m_iters`` optimiser steps on ``virtual_batch_size`` virtual samples.

    The options are the loop's keys of the same name
    (``train_cfg.m_iters`` ...), which the loop passes unless
    ``m_solver`` sets them.

    Args:
        m_iters (int): Steps per round. Defaults to 100.
        virtual_batch_size (int): Virtual samples per step. Defaults to 32
            (the paper's batch size).
        m_optim_wrapper (dict): The classifier's optimiser. Defaults to the
            paper's Adam (lr 1e-4, weight decay 1e-5).
        m_loss (dict): The loss (MODELS). Defaults to BCE.
    """
    per_rank_samples = True

    def __init__(self,
                 m_iters: int = 100,
                 virtual_batch_size: int = 32,
                 m_optim_wrapper: dict = dict(
                     type='OptimWrapper',
                     optimizer=dict(
                         type='Adam', lr=1e-4, betas=(0.9, 0.999),
                         weight_decay=1e-5)),
                 m_loss: dict = dict(
                     type='CrossEntropyLoss', use_sigmoid=True)) -> None:
        self.iters, self.batch_size = int(m_iters), int(virtual_batch_size)
        self.optim_cfg = copy.deepcopy(m_optim_wrapper)
        self.loss = MODELS.build(copy.deepcopy(m_loss))
        self.optim_wrapper = None

    def setup(self, head: torch.nn.Module) -> None:
        self.optim_wrapper = build_optim_wrapper(
            head, copy.deepcopy(self.optim_cfg))

    def fit(self, head, stats, sampler, generator) -> dict:
        losses = sgd_m_step(head.classify, list(head.parameters()), sampler,
                            self.optim_wrapper, self.loss, self.iters,
                            self.batch_size, generator)
        return dict(losses=losses, unchanged=[])

    def log_message(self, out: dict, seconds: float):
        losses = out['losses']
        if not losses:
            return super().log_message(out, seconds)
        tail = float(np.mean(losses[-max(1, len(losses) // 10):]))
        return (f': {len(losses)} iterations in {seconds:.1f}s, loss '
                f'{losses[0]:.4f} -> {tail:.4f} (mean of the last 10%)', tail)

    def state_dict(self) -> dict:
        return dict(optim_wrapper=self.optim_wrapper.state_dict())

    def load_state_dict(self, state: dict) -> None:
        if state.get('optim_wrapper') is not None:
            self.optim_wrapper.load_state_dict(state['optim_wrapper'])
