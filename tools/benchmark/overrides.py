"""Changes the suite makes to a config before a run.

Every function edits an MMEngine ``Config`` in place;
:func:`resolve_run_config` applies them in order and gives the exact config
of one run.
"""
import copy
import hashlib
import os
import os.path as osp
import subprocess
import sys
from typing import Optional

from .configs import SuiteError, dataset_key, is_stage2, load_config
from .presets import REPO, SMOKE_SIZE, SMOKE_SPLITS, TABLE_METRICS
from .settings import SuiteSettings


#: Backbone keys the narrow ResNet-18 takes over from the config's ResNet:
#: the output stride (the decoupling neck's token grid) is part of the
#: benchmark, the width is what ``--backbone-width`` changes.
KEPT_BACKBONE_KEYS = ('strides', 'dilations')


def tiny_backbone(width: int, like: Optional[dict] = None) -> dict:
    """A randomly initialised ResNet-18 with ``width`` base channels.

    Args:
        width (int): Stem and base channels (features: 8 x width).
        like (dict, optional): The config's backbone; when it is a ResNet,
            its ``strides`` and ``dilations`` are kept (e.g. the demo
            backbone's output stride 16).
    """
    out = dict(type='ResNet', depth=18, stem_channels=width,
               base_channels=width, num_stages=4, out_indices=(3, ),
               style='pytorch', init_cfg=None)
    if like is not None and like.get('type') == 'ResNet':
        out.update({k: like[k] for k in KEPT_BACKBONE_KEYS if k in like})
    return out


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


def set_pretrained(cfg, checkpoint: str) -> None:
    """Initialise the backbone from a checkpoint's ``backbone.`` weights
    (ldr_mm's ``Pretrained`` initialiser: it refuses missing weights and
    other shapes, naming them)."""
    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint=checkpoint,
                                       prefix='backbone')


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
    set_backbone(cfg, tiny_backbone(8, like=cfg.model.backbone))
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
    # validation logged at its iteration, the step of the checkpoint's name
    # (the report's validation table and --reference best-baseline read it)
    cfg.default_hooks.logger.log_metric_by_epoch = False
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=1,
        save_best=cfg.default_hooks.checkpoint.get('save_best', 'auto'),
        rule=cfg.default_hooks.checkpoint.get('rule', 'greater'))


def shrink_stage2(cfg) -> None:
    """Smoke schedule of a stage-2 config: 1 round of 2 E / 2 M steps."""
    cfg.train_cfg.update(rounds=1, e_iters=2, m_iters=2, virtual_batch_size=8)
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
    from ldr_mm.prompts import save_random_prompt_cache
    classes, names = prompt_classes(cfg)
    names = list(names or [c.replace('_', ' ') for c in classes])
    key = hashlib.sha1('\n'.join(classes).encode()).hexdigest()[:10]
    path = osp.join(smoke_root, f'prompt_{key}.pth')
    if not osp.isfile(path):
        save_random_prompt_cache(
            path, classes, num_tokens=6, dims=16,
            generator=torch.Generator().manual_seed(0), prompt_names=names)
    cfg.model.neck.prompt_cache = path


def prompt_classes(cfg):
    """Class names and prompt names of the config's training set."""
    from ldr_mm.utils import config_metainfo
    meta = config_metainfo(cfg, splits=('train', ), build=True)
    return [str(c) for c in meta['classes']], meta.get('prompt_names')


#: Datasets generated by the project itself (no weights file exists for
#: their prompts): the suite makes their random-CLIP prompt cache.
BUILTIN_BENCHMARKS = ('LDRDemoDataset', 'MNISTLTDataset')


def check_prompt_cache(cfg, config: str, log) -> None:
    """Make a built-in benchmark's random-CLIP prompt cache if missing (the
    demo and MNIST-LT, as `make demo`); else say how to make it."""
    neck = cfg.model.get('neck') or {}
    path = neck.get('prompt_cache')
    if neck.get('type') != 'LDRNeck' or not neck.get('use_prompt', True) or \
            not path or osp.isfile(osp.join(REPO, path)) or osp.isfile(path):
        return
    if dataset_key(cfg)[0] in BUILTIN_BENCHMARKS:
        log(f'making the prompt cache {path} of the built-in benchmark '
            f'{dataset_key(cfg)[0]} (random CLIP weights, as `make demo`)')
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



def resolve_run_config(run, settings: SuiteSettings, smoke_root: str):
    """The exact config of a run (:class:`~.runs.Run`), as a Config.

    Order: the config file, the run's seed, ``backbone_width``, ``epochs``,
    ``data_root``, smoke mode, ``pretrained`` and ``lr`` (runs that train
    from their config's backbone: not stage 2 or the train-longer control,
    which start from their stage 1), ``cfg_options``, the stage-1 checkpoint of a
    chained stage-2 run, the table's test metrics, the work dir.
    """
    cfg = load_config(run.config)
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=run.seed)
    if settings.backbone_width:
        set_backbone(cfg, tiny_backbone(settings.backbone_width,
                                         like=cfg.model.backbone))
    if settings.epochs:
        set_epochs(cfg, settings.epochs)
    if settings.data_root and not settings.smoke:
        for key in _dataloaders(cfg):
            cfg[key].dataset.data_root = settings.data_root
    if settings.smoke:
        smoke_overrides(cfg, smoke_root, settings.data_root)
        smoke_prompt_cache(cfg, smoke_root)
    if not is_stage2(cfg) and run.stage1 is None:
        # a chained run (stage 2, the train-longer control) starts from its
        # stage 1 with its own optimiser: the control's lr is the E-step's
        if settings.pretrained:
            set_pretrained(cfg, settings.pretrained)
        if settings.lr:
            cfg.optim_wrapper.optimizer.lr = settings.lr
    if settings.cfg_options:
        cfg.merge_from_dict(settings.cfg_options)
    if run.stage1 is not None:  # chained: the stage-1 run's checkpoint
        if is_stage2(cfg):
            cfg.model.stage1_checkpoint = run.stage1.record['checkpoint']
        else:  # a train-longer control starts from it
            cfg.load_from = run.stage1.record['checkpoint']
    ensure_table_metrics(cfg)
    cfg.work_dir = run.dir
    return cfg
