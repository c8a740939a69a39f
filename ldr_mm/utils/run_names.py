"""A logger and visualizer of its own for every run a process starts.

MMEngine's runner names its logger, visualizer, message hub and default
scope ``<experiment_name or config file name>_<second it started>`` and
``get_instance`` hands back an existing instance of that name, ignoring
the new arguments. Two runs of configs with the same file name started in
the same second of one process (the tools' ``main()`` called twice: tests,
notebooks, sweeps) therefore shared the first run's logger and visualizer:
the second run wrote its log and scalars into the first run's folder and
had none of its own.
"""
import itertools
import os.path as osp

#: Runs configured by this process so far.
_runs = itertools.count(1)


def distinct_experiment_name(cfg) -> None:
    """Give the run ``cfg`` configures instance names no earlier run of this
    process has.

    The first run of a process keeps MMEngine's names (CLI runs are
    unchanged); the n-th (n >= 2) gets ``experiment_name = '<name>-n'``,
    where ``<name>`` is the config's ``experiment_name`` or its file name.
    The work dir layout (``<work_dir>/<timestamp>/``) does not depend on
    the experiment name.

    Args:
        cfg (mmengine.Config): The run's config, changed in place.
    """
    n = next(_runs)
    if n == 1:
        return
    base = cfg.get('experiment_name') or (
        osp.splitext(osp.basename(cfg.filename))[0] if cfg.filename
        else 'run')
    cfg.experiment_name = f'{base}-{n}'
