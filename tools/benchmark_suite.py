"""Train and test a set of configs on one dataset and tabulate the results.

For every config and seed: ``tools/train.py`` (same seed for all configs),
the best validation checkpoint (``best_*.pth``; the last one when the config
keeps no best), then ``tools/test.py --metrics-out --out`` on the test split.
Stage-2 configs (those with ``model.stage1_checkpoint``) are chained: their
stage-1 config is trained first (same seed, same settings) and its best
checkpoint is passed as ``model.stage1_checkpoint``. The stage-1 config is
the config's ``stage1_config`` variable (a path relative to the config), or
else its nearest ``_base_`` ancestor that is not a stage-2 config.

Writes into ``--work-dir``::

    results.md      one markdown table: all / head / tail AUC and mAP, mACC
                    and bACC (mean +- std over seeds), with the command,
                    seeds, settings and hardware
    results.json    the same numbers, per-class values and run records
    per_class.png   per-class AP and AUC of every config against the class's
                    training positives
    <config>/seed<k>/   the run: <config>.py (the exact resolved config),
                    checkpoints, train/test logs, test_metrics.json,
                    test_scores.csv, run.json

Resumable: a run whose ``run.json`` exists is reused (unless ``--force``),
provided it was made with the same resolved config; otherwise the suite
stops and says so. A failed run is reported and the suite goes on with the
runs that do not depend on it; the exit status is 1 if any run failed.

Examples::

    # the demo comparison of the README (see docs/baselines.md): every
    # demo baseline, LDR and ablation config, a narrow ResNet-18, ~25 min
    # on 2 CPU cores
    python tools/benchmark_suite.py --preset all-demo --seeds 0 \
        --backbone-width 16 --threads 1 --work-dir work_dirs/bench_demo

    # your own set, three seeds
    python tools/benchmark_suite.py configs/baselines/bce_r50_nih.py \
        configs/baselines/dbloss_r50_nih.py \
        configs/ldrnet/ldr_r50_nih_stage1.py \
        --seeds 0 1 2 --work-dir work_dirs/bench_nih

    # CI: every config end to end on tiny data in a few seconds each
    python tools/benchmark_suite.py --preset all-demo --smoke \
        --work-dir /tmp/smoke
"""
import argparse
import copy
import glob
import hashlib
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import pprint
import shlex
import subprocess
import sys
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

DEMO_BASELINES = [
    f'configs/baselines/{loss}_r18_demo.py'
    for loss in ('bce', 'focal', 'asl', 'twoway', 'ral', 'dbloss')
]
DEMO_LDR = [
    'configs/ldrnet/ldr_r18_demo_stage1.py',
    'configs/ldrnet/ldr_r18_demo_stage2.py',
]


def _ablations(prefix: str) -> List[str]:
    found = glob.glob(osp.join(REPO, 'configs', 'ablations', f'{prefix}_*.py'))
    return [osp.relpath(p, REPO) for p in sorted(found)]


#: Named config sets (paths relative to the repository root).
PRESETS = {
    'demo-baselines': DEMO_BASELINES,
    'demo': DEMO_BASELINES + DEMO_LDR,
    'all-demo': DEMO_BASELINES + DEMO_LDR + _ablations('ldr_r18_demo'),
}
for _ds in ('nih', 'odir', 'spa'):
    PRESETS[f'{_ds}-baselines'] = [
        f'configs/baselines/{loss}_r50_{_ds}.py'
        for loss in ('bce', 'focal', 'asl', 'twoway', 'ral', 'dbloss')
    ]
    PRESETS[_ds] = PRESETS[f'{_ds}-baselines'] + [
        f'configs/ldrnet/ldr_r50_{_ds}_stage1.py',
        f'configs/ldrnet/ldr_r50_{_ds}_stage2.py'
    ]
#: The paper's ablations (Tables 4-6, Fig. 3) are on AxSpA.
PRESETS['all-spa'] = PRESETS['spa'] + _ablations('ldr_r50_spa')

#: Columns of the table: (metric key, header).
COLUMNS = [
    ('auc/mean', 'AUC all'), ('auc/head', 'AUC head'),
    ('auc/tail', 'AUC tail'), ('mAP/mean', 'mAP all'),
    ('mAP/head', 'mAP head'), ('mAP/tail', 'mAP tail'),
    ('mACC/mean', 'mACC'), ('bACC/mean', 'bACC'),
]
#: Metrics the test evaluator must have for the table.
TABLE_METRICS = ('MultiLabelAUC', 'MultiLabelAP', 'MultiLabelAccuracy',
                 'MultiLabelBalancedAccuracy')
SMOKE_SPLITS = dict(train=24, val=16, test=16)
SMOKE_SIZE = 32


class SuiteError(RuntimeError):
    """A problem with the suite's inputs, reported without a traceback."""


# --------------------------------------------------------------- configs
def repo_path(path: str) -> str:
    """``path`` as given if it exists, else relative to the repository."""
    if osp.isfile(path):
        return osp.abspath(path)
    cand = osp.join(REPO, path)
    if osp.isfile(cand):
        return cand
    raise SuiteError(f'Config "{path}" not found')


def run_name(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def load_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(path)


def is_stage2(cfg) -> bool:
    """A stage-2 config fine-tunes a stage-1 checkpoint."""
    model = cfg.get('model') or {}
    return 'stage1_checkpoint' in model


def stage1_config_of(path: str, cfg) -> str:
    """The stage-1 config a stage-2 config fine-tunes (see module doc)."""
    explicit = cfg.get('stage1_config')
    if explicit:
        cand = explicit if osp.isabs(explicit) else osp.join(
            osp.dirname(path), explicit)
        if not osp.isfile(cand):
            raise SuiteError(f'{path}: stage1_config "{explicit}" not found')
        return osp.abspath(cand)
    from mmengine.config import Config
    todo = [path]
    seen = set()
    while todo:
        cur = todo.pop(0)
        for base in Config._get_base_files(cur):
            base = osp.abspath(osp.join(osp.dirname(cur), base))
            if base in seen:
                continue
            seen.add(base)
            bcfg = load_config(base)
            if 'model' in bcfg and not is_stage2(bcfg) and \
                    'train_dataloader' in bcfg:
                return base
            todo.append(base)
    raise SuiteError(
        f'{path} is a stage-2 config but no stage-1 config was found among '
        "its _base_ files; set `stage1_config = 'PATH'` in it.")


def dataset_key(cfg) -> tuple:
    ds = cfg.train_dataloader.dataset
    while ds.get('type') in ('RepeatDataset', 'ClassBalancedDataset',
                             'ConcatDataset') and 'dataset' in ds:
        ds = ds.dataset
    return (ds.get('type'), ds.get('data_root'), ds.get('ann_file'))


# ------------------------------------------------------------- overrides
def tiny_backbone(width: int) -> dict:
    return dict(type='ResNet', depth=18, stem_channels=width,
                base_channels=width, num_stages=4, out_indices=(3, ),
                style='pytorch', init_cfg=None)


def backbone_channels(backbone: dict) -> int:
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return int(MODELS.build(copy.deepcopy(backbone)).feat_dim)


def set_backbone(cfg, backbone: dict) -> None:
    """Replace the backbone and fix the width of what reads it."""
    cfg.model.backbone = backbone
    ch = backbone_channels(backbone)
    neck = cfg.model.get('neck') or {}
    if neck.get('type') == 'LDRNeck':
        cfg.model.neck.in_channels = ch
        if neck.get('embed_dims') is not None:
            cfg.model.neck.embed_dims = ch
    elif 'in_channels' in (cfg.model.get('head') or {}):
        cfg.model.head.in_channels = ch
    else:
        raise SuiteError('Cannot tell which module reads the backbone '
                         f'features of model type {cfg.model.get("type")}')


def set_epochs(cfg, epochs: int) -> None:
    """Shorten an epoch-based schedule (cosine end follows)."""
    tc = cfg.get('train_cfg') or {}
    if tc.get('type', 'EpochBasedTrainLoop') != 'EpochBasedTrainLoop' or \
            'max_epochs' not in tc:
        return  # iteration-based (stage 2): its own schedule
    old = tc.max_epochs
    tc.max_epochs = epochs
    for s in cfg.get('param_scheduler') or []:
        if s.get('by_epoch', True) and s.get('end') == old:
            s['end'] = epochs
        if s.get('T_max') == old:
            s['T_max'] = epochs


def _dataloaders(cfg):
    return [k for k in ('train_dataloader', 'val_dataloader',
                        'test_dataloader') if cfg.get(k)]


def ensure_table_metrics(cfg) -> None:
    """Give the test evaluator every metric of the table (per class)."""
    ev = cfg.get('test_evaluator')
    metrics = list(ev if isinstance(ev, (list, tuple)) else [ev] if ev
                   else [])
    have = {m.get('type') for m in metrics}
    agg = {m.get('aggregate_by') for m in metrics
           if m.get('type') in TABLE_METRICS}
    aggregate_by = agg.pop() if len(agg) == 1 else None
    for t in TABLE_METRICS:
        if t not in have:
            m = dict(type=t, per_class=True)
            if aggregate_by:
                m['aggregate_by'] = aggregate_by
            metrics.append(m)
    cfg.test_evaluator = metrics


def smoke_overrides(cfg, smoke_root: str, data_root: Optional[str]) -> None:
    """Tiny everything: backbone, images, data, 2 training iterations."""
    set_backbone(cfg, tiny_backbone(8))
    for key in _dataloaders(cfg):
        dl = cfg[key]
        dl.batch_size = 4 if key == 'train_dataloader' else 8
        dl.num_workers = 0
        dl.persistent_workers = False
        ds = dl.dataset
        ds.serialize_data = False  # skips a gc.collect() per dataset
        if ds.get('type') == 'LDRDemoDataset':
            ds.data_root = osp.join(smoke_root, 'ldr_demo')
            ds.splits = dict(SMOKE_SPLITS)
            ds.image_size = SMOKE_SIZE
        elif data_root:
            ds.data_root = data_root
        for t in ds.get('pipeline') or []:
            if t.get('type') == 'Resize':
                t['scale'] = (40, 40)
            elif t.get('type') in ('RandomCrop', 'CenterCrop'):
                t['crop_size'] = SMOKE_SIZE
            elif t.get('type') == 'RandomResizedCrop':
                t['scale'] = SMOKE_SIZE
    cfg.default_hooks.logger.interval = 1
    if is_stage2(cfg):
        shrink_stage2(cfg)
        return
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = []
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=1,
        save_best=cfg.default_hooks.checkpoint.get('save_best', 'auto'),
        rule=cfg.default_hooks.checkpoint.get('rule', 'greater'))


def shrink_stage2(cfg) -> None:
    """Smoke schedule of a stage-2 config: 1 round of 2 E / 2 M steps."""
    for h in cfg.get('custom_hooks') or []:
        if h.get('type') == 'GaussianReconstructionHook':
            h['e_iters'] = 2
            h['m_iters'] = 2
            h['virtual_batch_size'] = 8
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = []
    cfg.log_processor = dict(by_epoch=False)
    ck = cfg.default_hooks.checkpoint
    ck.interval = 2
    ck.by_epoch = False


def smoke_prompt_cache(cfg, smoke_root: str) -> None:
    """A random prompt cache for the config's classes (smoke runs only)."""
    neck = cfg.model.get('neck') or {}
    if neck.get('type') != 'LDRNeck' or not neck.get('use_prompt', True):
        return
    import torch
    from ldr_mm.prompts import save_prompt_cache
    classes, names = prompt_classes(cfg)
    names = list(names or [c.replace('_', ' ') for c in classes])
    key = hashlib.sha1('\n'.join(classes).encode()).hexdigest()[:10]
    path = osp.join(smoke_root, f'prompt_{key}.pth')
    if not osp.isfile(path):
        g = torch.Generator().manual_seed(0)
        save_prompt_cache(
            path, classes=list(classes), prompt_names=names,
            template='The Categories of the image are {}.',
            prompt='The Categories of the image are ' + ', '.join(names) +
            '.', model='ViT-B-32', pretrained=None, embedding_type='token',
            tokens=torch.arange(6), embeddings=torch.randn(
                6, 16, generator=g) * 0.02)
    cfg.model.neck.prompt_cache = path


def prompt_classes(cfg):
    spec = importlib.util.spec_from_file_location(
        'ldr_mm_extract_prompt',
        osp.join(REPO, 'tools', 'misc', 'extract_prompt_embeddings.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.classes_from_config(cfg)


def check_prompt_cache(cfg, config: str, log) -> None:
    """Make the demo's random-CLIP prompt cache if missing; else say how."""
    neck = cfg.model.get('neck') or {}
    path = neck.get('prompt_cache')
    if neck.get('type') != 'LDRNeck' or not neck.get('use_prompt', True) or \
            not path or osp.isfile(osp.join(REPO, path)) or osp.isfile(path):
        return
    if dataset_key(cfg)[0] == 'LDRDemoDataset':
        log(f'making the demo prompt cache {path} (random CLIP weights, as '
            '`make demo`)')
        cmd = [sys.executable, 'tools/misc/extract_prompt_embeddings.py',
               config, '--weights', 'none', '--out', path]
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                             env=dict(os.environ, HF_HUB_OFFLINE='1'))
        if res.returncode != 0:
            raise SuiteError(f'Making the prompt cache failed:\n'
                             f'{res.stdout[-2000:]}{res.stderr[-2000:]}')
        return
    from ldr_mm.prompts import make_cache_command
    raise SuiteError(f'{config}: the prompt cache "{path}" does not exist. '
                     f'Make it first:\n  {make_cache_command(path, config)}')


# ---------------------------------------------------------------- runs
class Run:
    """One (config, seed) training + test."""

    def __init__(self, config: str, seed: int, work_dir: str):
        self.config = config
        self.seed = seed
        self.name = run_name(config)
        self.dir = osp.join(work_dir, self.name, f'seed{seed}')
        self.record_file = osp.join(self.dir, 'run.json')
        self.metrics_file = osp.join(self.dir, 'test_metrics.json')
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
            threads: Optional[int] = None) -> None:
    """Run tools/<tool>.py with ``argv`` (a subprocess, or in this one)."""
    if in_process:
        import torch
        old = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            _load_tool(tool).main(argv)
        finally:
            torch.set_num_threads(old)
        return
    env = dict(os.environ, PYTHONUNBUFFERED='1', HF_HUB_OFFLINE='1')
    if threads:
        env.update(OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, osp.join('tools', f'{tool}.py')] + argv
    with open(log_file, 'w') as log:
        log.write('$ ' + shlex.join(cmd) + '\n')
        log.flush()
        proc = subprocess.run(cmd, cwd=REPO, stdout=log,
                              stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'tools/{tool}.py failed ({proc.returncode}); '
                           f'log: {log_file}\n{tail}')


def resolve_run_config(run: Run, args, smoke_root: str):
    """The exact config of a run, as a Config (see module doc)."""
    cfg = load_config(run.config)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=run.seed)
    if args.backbone_width:
        set_backbone(cfg, tiny_backbone(args.backbone_width))
    if args.epochs:
        set_epochs(cfg, args.epochs)
    if args.data_root and not args.smoke:
        for key in _dataloaders(cfg):
            cfg[key].dataset.data_root = args.data_root
    if args.smoke:
        smoke_overrides(cfg, smoke_root, args.data_root)
        smoke_prompt_cache(cfg, smoke_root)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if run.stage1 is not None:
        cfg.model.stage1_checkpoint = run.stage1.record['checkpoint']
    ensure_table_metrics(cfg)
    cfg.work_dir = run.dir
    return cfg


def dump_config(cfg, path: str) -> None:
    """Write ``cfg`` as a plain Python config (atomically).

    ``Config.dump`` formats with yapf, which costs more than a whole smoke
    run's training step; ``pprint`` gives a loadable, readable file.
    """
    from ldr_mm.utils import atomic_write
    lines = ['# Written by tools/benchmark_suite.py: the exact config of '
             'this run.\n']
    for key, value in cfg.to_dict().items():
        lines.append(f'{key} = {pprint.pformat(value, sort_dicts=False)}\n')
    with atomic_write(path) as f:
        f.write('\n'.join(lines))


def config_fingerprint(cfg) -> str:
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def do_run(run: Run, args, smoke_root: str, log) -> None:
    from ldr_mm.utils import atomic_write
    cfg = resolve_run_config(run, args, smoke_root)
    fingerprint = config_fingerprint(cfg)
    if osp.isfile(run.record_file) and osp.isfile(run.metrics_file) and \
            not args.force:
        with open(run.record_file) as f:
            record = json.load(f)
        if record.get('fingerprint') != fingerprint:
            raise SuiteError(
                f'{run.dir} holds results made with other settings than '
                'this command would use; pass --force to retrain, or use '
                'another --work-dir')
        run.record = record
        run.status = 'reused'
        log(f'{run.name} seed {run.seed}: reusing {run.metrics_file}')
        return
    if not args.smoke:
        check_prompt_cache(cfg, run.config, log)
    os.makedirs(run.dir, exist_ok=True)
    for stale in (run.record_file, run.metrics_file):
        if osp.isfile(stale):
            os.remove(stale)
    for old in glob.glob(osp.join(run.dir, 'best_*.pth')):
        os.remove(old)  # a --force rerun must not pick an old best
    cfg_file = osp.join(run.dir, f'{run.name}.py')
    dump_config(cfg, cfg_file)
    stamp = f'{run.name}_seed{run.seed}'
    t0 = time.time()
    log(f'{run.name} seed {run.seed}: training -> {run.dir}')
    execute('train', [cfg_file, '--work-dir', run.dir, '--cfg-options',
                      f'experiment_name={stamp}_train'],
            osp.join(run.dir, 'train.log'), args.in_process, args.threads)
    t_train = time.time() - t0
    ckpt = best_checkpoint(run.dir)
    log(f'{run.name} seed {run.seed}: testing {osp.basename(ckpt)}')
    t1 = time.time()
    execute('test', [cfg_file, ckpt, '--work-dir',
                     osp.join(run.dir, 'test'), '--metrics-out',
                     run.metrics_file, '--out',
                     osp.join(run.dir, 'test_scores.csv'), '--cfg-options',
                     f'experiment_name={stamp}_test'],
            osp.join(run.dir, 'test.log'), args.in_process, args.threads)
    t_test = time.time() - t1
    if not osp.isfile(run.metrics_file):
        raise RuntimeError(f'tools/test.py wrote no {run.metrics_file}')
    run.record = dict(
        config=osp.relpath(run.config, REPO), seed=run.seed,
        checkpoint=ckpt, stage1_checkpoint=(
            run.stage1.record['checkpoint'] if run.stage1 else None),
        train_seconds=round(t_train, 1), test_seconds=round(t_test, 1),
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
        if is_stage2(cfg):
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


# --------------------------------------------------------------- results
def _fmt(values: List[float]) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return 'n/a'
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f'{mean:.4f}'
    std = math.sqrt(sum((v - mean)**2 for v in vals) / (len(vals) - 1))
    return f'{mean:.4f} ± {std:.4f}'


def _mean(values):
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


def collect(configs: Sequence[str], runs: List[Run]) -> Dict:
    """Per-config metrics over seeds."""
    out = OrderedDict()
    for config in configs:
        mine = [r for r in runs if r.config == config]
        metrics = []
        for r in mine:
            if r.status in ('done', 'reused'):
                with open(r.metrics_file) as f:
                    metrics.append(json.load(f))
        out[run_name(config)] = dict(
            config=osp.relpath(config, REPO),
            seeds=[r.seed for r in mine],
            status=[r.status for r in mine],
            errors=[r.error for r in mine if r.error],
            metrics=[m['metrics'] for m in metrics],
            classes=metrics[0]['classes'] if metrics else None,
            test_positives=metrics[0]['positives'] if metrics else None,
            seconds=sum(r.record.get('train_seconds', 0) +
                        r.record.get('test_seconds', 0) for r in mine),
            runs=[r.record for r in mine])
    return out


def is_baseline(config: str) -> bool:
    return f'{os.sep}baselines{os.sep}' in osp.join(os.sep, config)


def markdown_table(results: Dict) -> str:
    header = ['config'] + [h for _, h in COLUMNS]
    rows, means = [], {}
    for name, res in results.items():
        if not res['metrics']:
            rows.append([f'`{name}`'] + ['failed'] * len(COLUMNS))
            continue
        cells = [f'`{name}`']
        for key, _ in COLUMNS:
            vals = [m.get(key) for m in res['metrics']]
            means[(name, key)] = _mean(vals)
            cells.append(_fmt(vals))
        rows.append(cells)
    # bold the best mean of every column
    for j, (key, _) in enumerate(COLUMNS, start=1):
        col = [(means.get((n, key), math.nan), i)
               for i, n in enumerate(results)]
        col = [(v, i) for v, i in col if not math.isnan(v)]
        if len(col) > 1:
            best = max(v for v, _ in col)
            for v, i in col:
                if v == best:
                    rows[i][j] = f'**{rows[i][j]}**'
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(['---'] + ['---:'] * len(COLUMNS)) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    return '\n'.join(lines)


def tail_gap_lines(results: Dict) -> List[str]:
    """Tail mAP of every non-baseline config vs the best baseline."""
    base = [(_mean([m.get('mAP/tail') for m in r['metrics']]), n)
            for n, r in results.items()
            if is_baseline(r['config']) and r['metrics']]
    base = [(v, n) for v, n in base if not math.isnan(v)]
    if not base:
        return []
    best, best_name = max(base)
    lines = []
    for n, r in results.items():
        if is_baseline(r['config']) or not r['metrics']:
            continue
        v = _mean([m.get('mAP/tail') for m in r['metrics']])
        if not math.isnan(v):
            lines.append(f'- `{n}`: tail mAP {v:.4f}, {v - best:+.4f} vs the '
                         f'best baseline `{best_name}` ({best:.4f})')
    return lines


def hardware() -> str:
    cpu = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    import torch
    gpu = (f', GPU {torch.cuda.get_device_name(0)}'
           if torch.cuda.is_available() else ', no GPU')
    return (f'{os.cpu_count()} CPU cores ({cpu}){gpu}; Python '
            f'{platform.python_version()}, torch {torch.__version__}')


def train_positives(config: str, cfg_file: str):
    """(classes, training positives, head classes) of the suite's dataset."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    from ldr_mm.engine.hooks import dataset_class_frequencies
    cfg = Config.fromfile(cfg_file)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.pipeline = []
    dataset = DATASETS.build(ds_cfg)
    counts, _ = dataset_class_frequencies(dataset)
    meta = dataset.metainfo
    return list(meta['classes']), counts.tolist(), list(
        meta.get('head_classes') or [])


def plot_per_class(results: Dict, classes, counts, head, path: str) -> None:
    """Per-class AP and AUC against training positives, one line a config."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ldr_mm.utils import atomic_call
    order = sorted(range(len(classes)), key=lambda i: -counts[i])
    labels = [f'{classes[i]}\n({counts[i]})' for i in order]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, len(classes) * 0.9) + 4,
                                            9), sharex=True)
    markers = 'os^vD<>pP*Xh'
    cmap = plt.get_cmap('tab10' if len(results) <= 10 else 'tab20')
    for k, (name, res) in enumerate(results.items()):
        if not res['metrics']:
            continue
        for ax, prefix in zip(axes, ('mAP', 'auc')):
            ys = [_mean([m.get(f'{prefix}/class/{classes[i]}')
                         for m in res['metrics']]) for i in order]
            style = '-' if not is_baseline(res['config']) else '--'
            ax.plot(range(len(order)), ys, style, color=cmap(k % cmap.N),
                    marker=markers[k % len(markers)], label=name,
                    linewidth=2 if not is_baseline(res['config']) else 1)
    for ax, title in zip(axes, ('AP', 'ROC AUC')):
        if head:  # tail classes shaded
            for x, i in enumerate(order):
                if classes[i] not in head:
                    ax.axvspan(x - 0.5, x + 0.5, color='0.92', zorder=0,
                               linewidth=0)
        ax.set_ylabel(f'test {title}')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1),
                   borderaxespad=0)
    axes[0].set_title('Per-class test results (classes by training '
                      'positives; tail shaded; baselines dashed)')
    axes[1].set_xticks(range(len(order)))
    axes[1].set_xticklabels(labels, fontsize=8)
    axes[1].set_xlabel('class (training positives)')
    fig.tight_layout()
    atomic_call(path, lambda p: fig.savefig(p, dpi=110, format='png'))
    plt.close(fig)


def write_reports(args, configs, runs, argv, t_start, log) -> Dict:
    from ldr_mm.utils import atomic_write
    results = collect(configs, runs)
    ran = [r for r in runs if r.status in ('done', 'reused')]
    first = next((r for r in ran if r.config in configs), None)
    meta = dict(classes=None)
    if first is not None:
        classes, counts, head = train_positives(
            first.config, osp.join(first.dir, f'{first.name}.py'))
        meta = dict(classes=classes, train_positives=counts,
                    head_classes=head)
        plot_per_class(results, classes, counts, head,
                       osp.join(args.work_dir, 'per_class.png'))
    settings = []
    if args.smoke:
        settings.append('smoke mode (tiny backbone/data, 2 iterations)')
    if args.epochs:
        settings.append(f'epoch-based schedules shortened to {args.epochs} '
                        'epochs')
    if args.backbone_width:
        settings.append(f'backbone ResNet-18 with {args.backbone_width} base '
                        f'channels ({8 * args.backbone_width}-d features)')
    if args.cfg_options:
        settings.append(f'cfg-options {args.cfg_options}')
    if args.threads:
        settings.append(f'{args.threads} CPU thread(s) per run')
    total = sum(r['seconds'] for r in results.values())
    total += sum(r.record.get('train_seconds', 0) +
                 r.record.get('test_seconds', 0) for r in runs
                 if r.config not in configs)
    cmd = 'python ' + shlex.join([osp.relpath(__file__, REPO)] + argv)
    lines = [
        '# Benchmark results', '',
        f'Command: `{cmd}`  ',
        f'Seeds: {", ".join(map(str, args.seeds))}  ',
        f'Hardware: {hardware()}  ',
        f'Settings: {"; ".join(settings) or "the configs as they are"}  ',
        f'Train + test time of all runs: {total / 60:.1f} min (this '
        f'invocation: {(time.time() - t_start) / 60:.1f} min)', '']
    if meta['classes']:
        d = dataset_key(load_config(osp.join(first.dir,
                                             f'{first.name}.py')))
        lines += [
            f'Dataset: {d[0]} (`{d[1]}`); test metrics of the best '
            'validation checkpoint; head classes: '
            f'{", ".join(meta["head_classes"]) or "-"}; all / head / tail '
            'are means over classes. mACC: per-class accuracy at 0.5, bACC: '
            'per-class balanced accuracy at 0.5 (docs/metrics.md).', '']
    lines += [markdown_table(results), '']
    gaps = tail_gap_lines(results)
    if gaps:
        lines += ['Tail mAP against the best baseline (configs/baselines):',
                  ''] + gaps + ['']
    failed = [r for r in runs if r.status == 'failed' or
              r.status.startswith('skipped')]
    if failed:
        lines += ['Failed runs:', ''] + [
            f'- `{r.name}` seed {r.seed}: {r.status}: '
            f'{r.error.splitlines()[0] if r.error else ""}' for r in failed
        ] + ['']
    if meta['classes']:
        lines += ['Per-class AP / AUC: `per_class.png`.', '']
    md = '\n'.join(lines)
    with atomic_write(osp.join(args.work_dir, 'results.md')) as f:
        f.write(md)
    with atomic_write(osp.join(args.work_dir, 'results.json')) as f:
        json.dump(dict(command=cmd, seeds=args.seeds, hardware=hardware(),
                       settings=settings, dataset=meta, results=results), f,
                  indent=1)
    log('\n' + md)
    return results


# ------------------------------------------------------------------ main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog=__doc__.split('\n', 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='*', help='config files')
    parser.add_argument('--preset', action='append', choices=sorted(PRESETS),
                        help='a named set of configs (repeatable)')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--force', action='store_true',
                        help='retrain runs whose results exist')
    parser.add_argument('--smoke', action='store_true',
                        help='tiny backbone, images and data, 2 iterations')
    parser.add_argument('--epochs', type=int,
                        help='shorten epoch-based schedules to N epochs')
    parser.add_argument('--backbone-width', type=int,
                        help='replace the backbone by a ResNet-18 with W base '
                        'channels (8W-d features) in every config')
    parser.add_argument('--data-root',
                        help='data_root of the train/val/test datasets')
    parser.add_argument('--in-process', action='store_true',
                        help='run tools/train.py and tools/test.py in this '
                        'process (faster start; used by the tests)')
    parser.add_argument('--threads', type=int,
                        help='CPU threads of each run (torch / OpenMP); on a '
                        'busy machine 1 can be much faster')
    parser.add_argument('--fail-fast', action='store_true',
                        help='stop at the first failed run')
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every config')
    args = parser.parse_args(argv)
    if not args.configs and not args.preset:
        parser.error('give config files and/or --preset')
    for k in ('epochs', 'backbone_width', 'threads'):
        v = getattr(args, k)
        if v is not None and v < 1:
            parser.error(f'--{k.replace("_", "-")} must be >= 1')
    return args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    t_start = time.time()
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)

    def log(msg):
        print(f'[suite] {msg}', flush=True)

    import ldr_mm  # noqa: F401  (registers components)
    names = list(args.configs)
    for p in args.preset or []:
        names += PRESETS[p]
    configs = []
    for c in names:
        path = repo_path(c)
        if path not in configs:
            configs.append(path)
    keys = {}
    for c in configs:
        key = dataset_key(load_config(c))
        if args.data_root:
            key = key[:1]  # the roots are overridden
        keys.setdefault(key, []).append(run_name(c))
    if len(keys) > 1:
        raise SuiteError('The suite compares configs on one dataset, but '
                         'these differ: ' + '; '.join(
                             f'{k}: {v}' for k, v in keys.items()))
    runs = plan_runs(configs, args.seeds, args.work_dir)
    smoke_root = osp.join(args.work_dir, '_smoke')
    log(f'{len(runs)} runs: ' + ', '.join(
        f'{r.name}/seed{r.seed}' for r in runs))
    for run in runs:
        if run.stage1 is not None and run.stage1.status not in ('done',
                                                                'reused'):
            run.status = f'skipped (stage 1 {run.stage1.name} failed)'
            log(f'{run.name} seed {run.seed}: {run.status}')
            continue
        try:
            do_run(run, args, smoke_root, log)
        except SuiteError:
            raise
        except Exception as e:  # noqa: BLE001 - reported, suite goes on
            run.status = 'failed'
            run.error = f'{type(e).__name__}: {e}'
            log(f'{run.name} seed {run.seed}: FAILED: {run.error[:3000]}')
            if args.fail_fast:
                break
    write_reports(args, configs, runs, argv, t_start, log)
    bad = [r for r in runs if r.status not in ('done', 'reused')]
    return 1 if bad else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except SuiteError as e:
        sys.exit(f'benchmark_suite: {e}')
