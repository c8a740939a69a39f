"""Runs of the suite: plan (stage-1 dependencies first), train, test, reuse.

A run is one (config, seed): ``tools/train.py`` on the resolved config, the
best validation checkpoint (``best_*.pth``; the last one when the config
keeps no best), then ``tools/test.py --metrics-out --out`` on the test split.
A run whose ``run.json`` exists is reused if it was made with the same
resolved config (its fingerprint); otherwise the suite stops and says so.
"""
import glob
import hashlib
import importlib.util
import itertools
import json
import os
import os.path as osp
import pprint
import shlex
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Dict, List, Optional, Sequence

from ldr_mm.utils import atomic_write

from .configs import (SuiteError, continues_stage1, is_stage2, load_config,
                      run_name, stage1_config_of)
from .overrides import check_prompt_cache, resolve_run_config
from .presets import REPO
from .settings import SuiteSettings

#: Runs started in this process. MMEngine names a runner's visualizer and
#: logger after its experiment and the second it started, and hands an
#: existing instance of that name back: an in-process run in the same second
#: as an earlier one of the same name (e.g. two suites in one test session)
#: got the earlier visualizer, whose folder may be gone.
_RUNS_IN_PROCESS = itertools.count()

class Run:
    """One (config, seed) training + test."""

    def __init__(self, config: str, seed: int, work_dir: str):
        self.config = config
        self.seed = seed
        self.name = run_name(config)
        self.dir = osp.join(work_dir, self.name, f'seed{seed}')
        self.record_file = osp.join(self.dir, 'run.json')
        self.metrics_file = osp.join(self.dir, 'test_metrics.json')
        # JSON keeps the float32 scores exact (the CSV rounds to 6 digits,
        # which ties near-saturated scores and shifts AP)
        self.scores_file = osp.join(self.dir, 'test_scores.json')
        self.stage1: Optional['Run'] = None
        self.status = 'pending'
        self.error = ''
        self.record: Dict = {}


def best_checkpoint(work_dir: str) -> str:
    """The best validation checkpoint, else the last one."""
    best = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')),
                  key=osp.getmtime)
    if best:
        return best[-1]
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            path = f.read().strip()
        if osp.isfile(path):
            return path
    raise SuiteError(f'No checkpoint in {work_dir}')


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(
        f'ldr_mm_tools_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def execute(tool: str, argv: List[str], log_file: str, in_process: bool,
            threads: Optional[int] = None) -> Optional[float]:
    """Run tools/<tool>.py with ``argv`` (a subprocess, or in this one).

    Returns:
        float or None: CPU seconds (user + system) of the subprocess and its
        children (data loader workers); None in process.
    """
    if in_process:
        import torch
        old = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            _load_tool(tool).main(argv)
        finally:
            torch.set_num_threads(old)
        return None
    env = dict(os.environ, PYTHONUNBUFFERED='1', HF_HUB_OFFLINE='1')
    if threads:
        env.update(OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, osp.join('tools', f'{tool}.py')] + argv
    with open(log_file, 'w') as log:
        log.write('$ ' + shlex.join(cmd) + '\n')
        log.flush()
        returncode, cpu = run_timed(cmd, log, env)
    if returncode != 0:
        with open(log_file) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'tools/{tool}.py failed ({returncode}); '
                           f'log: {log_file}\n{tail}')
    return cpu


def run_timed(cmd: List[str], log, env: Dict[str, str]) -> tuple:
    """Run ``cmd`` in the repository, output to the open file ``log``.

    Returns:
        tuple: (exit status, CPU seconds of it and its reaped children).
    """
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def dump_config(cfg, path: str) -> None:
    """Write ``cfg`` as a plain Python config (atomically).

    ``Config.dump`` formats with yapf, which costs more than a whole smoke
    run's training step; ``pprint`` gives a loadable, readable file.
    """
    lines = ['# Written by tools/benchmark_suite.py: the exact config of '
             'this run.\n']
    for key, value in cfg.to_dict().items():
        lines.append(f'{key} = {pprint.pformat(value, sort_dicts=False)}\n')
    with atomic_write(path) as f:
        f.write('\n'.join(lines))


def config_fingerprint(cfg) -> str:
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def reuse(run: Run, fingerprint: str, log: Callable[[str], None]) -> bool:
    """Take a finished run's results if they exist; refuse other settings."""
    if not all(osp.isfile(f) for f in (run.record_file, run.metrics_file,
                                       run.scores_file)):
        return False
    with open(run.record_file) as f:
        record = json.load(f)
    if record.get('fingerprint') != fingerprint:
        raise SuiteError(
            f'{run.dir} holds results made with other settings than this '
            'command would use; pass --force to retrain, or use another '
            '--work-dir')
    run.record = record
    run.status = 'reused'
    log(f'{run.name} seed {run.seed}: reusing {run.metrics_file}')
    return True


#: Serialises making a prompt cache when runs train in parallel (--jobs).
_PROMPT_CACHE_LOCK = threading.Lock()


def do_run(run: Run, settings: SuiteSettings, smoke_root: str,
           log: Callable[[str], None]) -> None:
    """Train and test one run, or reuse its results (see module doc)."""
    cfg = resolve_run_config(run, settings, smoke_root)
    fingerprint = config_fingerprint(cfg)
    if not settings.force and reuse(run, fingerprint, log):
        return
    if not settings.smoke:
        with _PROMPT_CACHE_LOCK:  # parallel runs may share one cache
            check_prompt_cache(cfg, run.config, log)
    os.makedirs(run.dir, exist_ok=True)
    for stale in (run.record_file, run.metrics_file, run.scores_file):
        if osp.isfile(stale):
            os.remove(stale)
    for old in glob.glob(osp.join(run.dir, 'best_*.pth')):
        os.remove(old)  # a --force rerun must not pick an old best
    cfg_file = osp.join(run.dir, f'{run.name}.py')
    dump_config(cfg, cfg_file)
    stamp = f'{run.name}_seed{run.seed}'
    if settings.in_process:
        stamp += f'_run{next(_RUNS_IN_PROCESS)}'
    t0 = time.time()
    log(f'{run.name} seed {run.seed}: training -> {run.dir}')
    cpu_train = execute('train', [cfg_file, '--work-dir', run.dir,
                                  '--cfg-options',
                                  f'experiment_name={stamp}_train'],
                        osp.join(run.dir, 'train.log'), settings.in_process,
                        settings.threads)
    t_train = time.time() - t0
    ckpt = best_checkpoint(run.dir)
    log(f'{run.name} seed {run.seed}: testing {osp.basename(ckpt)}')
    t1 = time.time()
    cpu_test = execute(
        'test', [cfg_file, ckpt, '--work-dir', osp.join(run.dir, 'test'),
                 '--metrics-out', run.metrics_file, '--out', run.scores_file,
                 '--cfg-options', f'experiment_name={stamp}_test'],
        osp.join(run.dir, 'test.log'), settings.in_process, settings.threads)
    t_test = time.time() - t1
    if not osp.isfile(run.metrics_file):
        raise RuntimeError(f'tools/test.py wrote no {run.metrics_file}')
    run.record = dict(
        config=osp.relpath(run.config, REPO), seed=run.seed,
        checkpoint=ckpt, stage1_checkpoint=(
            run.stage1.record['checkpoint'] if run.stage1 else None),
        train_seconds=round(t_train, 1), test_seconds=round(t_test, 1),
        cpu_seconds=(None if cpu_train is None else
                     round(cpu_train + cpu_test, 1)),
        fingerprint=fingerprint, finished=time.strftime('%Y-%m-%d %H:%M:%S'))
    with atomic_write(run.record_file) as f:
        json.dump(run.record, f, indent=1)
    run.status = 'done'
    log(f'{run.name} seed {run.seed}: done in {t_train + t_test:.0f} s')


def plan_runs(configs: Sequence[str], seeds: Sequence[int],
              work_dir: str) -> List[Run]:
    """Runs in execution order, stage-1 dependencies first."""
    runs: 'OrderedDict[tuple, Run]' = OrderedDict()

    def add(config: str, seed: int) -> Run:
        key = (config, seed)
        if key in runs:
            return runs[key]
        cfg = load_config(config)
        dep = None
        if is_stage2(cfg) or continues_stage1(cfg):
            dep = add(stage1_config_of(config, cfg), seed)
        run = Run(config, seed, work_dir)
        run.stage1 = dep
        runs[key] = run
        return run

    for seed in seeds:
        for c in configs:
            add(c, seed)
    names = {}
    for run in runs.values():
        other = names.setdefault(run.name, run.config)
        if other != run.config:
            raise SuiteError(f'Two configs share the name {run.name}: '
                             f'{other} and {run.config}')
    return list(runs.values())



def run_all(runs: List[Run], settings: SuiteSettings,
            log: Callable[[str], None]) -> None:
    """Run in order; a failure is recorded and its dependants skipped.

    With ``settings.jobs`` > 1 up to that many runs train at the same time
    (:func:`run_parallel`).
    """
    smoke_root = osp.join(settings.work_dir, '_smoke')
    if settings.jobs > 1:
        run_parallel(runs, settings, smoke_root, log)
        return
    for run in runs:
        if skip_if_stage1_failed(run, log):
            continue
        if not try_run(run, settings, smoke_root, log) and \
                settings.fail_fast:
            break


def skip_if_stage1_failed(run: Run, log: Callable[[str], None]) -> bool:
    """Mark ``run`` skipped (and say so) if its stage-1 run did not finish."""
    if run.stage1 is None or run.stage1.status in ('done', 'reused'):
        return False
    run.status = f'skipped (stage 1 {run.stage1.name} failed)'
    log(f'{run.name} seed {run.seed}: {run.status}')
    return True


def try_run(run: Run, settings: SuiteSettings, smoke_root: str,
            log: Callable[[str], None]) -> bool:
    """:func:`do_run`; a failure (but a :class:`SuiteError`) is recorded.

    Returns:
        bool: Whether the run finished (done or reused).
    """
    try:
        do_run(run, settings, smoke_root, log)
    except SuiteError:
        raise
    except Exception as e:  # noqa: BLE001 - reported, suite goes on
        run.status = 'failed'
        run.error = f'{type(e).__name__}: {e}'
        log(f'{run.name} seed {run.seed}: FAILED: {run.error[:3000]}')
        return False
    return True


def run_parallel(runs: List[Run], settings: SuiteSettings, smoke_root: str,
                 log: Callable[[str], None]) -> None:
    """Up to ``settings.jobs`` runs at a time (subprocesses), in plan order;
    a run starts once its stage-1 run has finished. Same records as the
    sequential order; a :class:`SuiteError` stops the suite after the runs
    in flight."""
    pending, active, stop = list(runs), {}, False
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        while pending or active:
            for run in list(pending):
                if stop or len(active) >= settings.jobs:
                    break
                if run.stage1 is not None and run.stage1.status in (
                        'pending', 'running'):
                    continue  # waits for its stage 1
                pending.remove(run)
                if skip_if_stage1_failed(run, log):
                    continue
                run.status = 'running'
                active[pool.submit(try_run, run, settings, smoke_root,
                                   log)] = run
            if not active:
                break
            finished, _ = wait(list(active), return_when=FIRST_COMPLETED)
            for future in finished:
                active.pop(future)
                if not future.result() and settings.fail_fast:
                    stop = True
