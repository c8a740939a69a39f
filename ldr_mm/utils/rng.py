"""Random-number plumbing shared by stage 2 and exact resume.

Two concerns, one home:

* :func:`torch_rng_state` / :func:`set_torch_rng_state`: the torch RNG state
  (CPU and the current CUDA device) that :class:`~ldr_mm.engine.
  TrainRNGStateHook` snapshots between train iterations and stores in
  checkpoints;
* :func:`preserved_global_rng`: restore every global stream (python, numpy,
  torch CPU and all CUDA devices) after a block, so a stage-2 round or the
  stage-1 evaluation before round 1 never shifts the training stream;
* :func:`round_seed`: a decorrelated seed per (seed, round, rank, stream),
  with the streams named in :data:`STREAMS`.
"""
import contextlib
import random

import numpy as np
import torch

#: Named random streams of a stage-2 round (the numbers are part of the
#: seeds: never renumber them, or resumed runs draw other samples).
STREAMS = dict(virtual=0, statistics_loader=1, statistics_views=2)


def torch_rng_state() -> dict:
    """The torch RNG state: ``cpu`` and, if CUDA is in use, ``cuda`` (the
    current device)."""
    state = dict(cpu=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_torch_rng_state(state: dict) -> None:
    """Restore a state from :func:`torch_rng_state`."""
    torch.set_rng_state(state['cpu'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


@contextlib.contextmanager
def preserved_global_rng():
    """Restore the global python, numpy and torch (CPU, all CUDA devices)
    RNG states on exit: whatever runs inside cannot shift the training
    random stream."""
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


def round_seed(seed: int, round_idx: int, rank: int, stream: str) -> int:
    """A 63-bit seed for (seed, round, rank, stream), decorrelated.

    Args:
        seed (int): The run's base seed.
        round_idx (int): 0-based round.
        rank (int): Process rank (pass 0 for draws all ranks must share).
        stream (str): A key of :data:`STREAMS`.
    """
    if stream not in STREAMS:
        raise KeyError(f'Unknown random stream {stream!r}; the streams are '
                       f'{sorted(STREAMS)}')
    state = np.random.SeedSequence(
        [int(seed) % 2**32, round_idx, rank, STREAMS[stream]]).generate_state(
            2, dtype=np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & (2**63 - 1)
