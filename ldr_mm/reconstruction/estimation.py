"""The statistics pass: class-aware features of the training set -> Gaussians.

One pass of the model (eval mode, no gradient) over a data loader that splits
the training set across ranks *without* padding duplicates, accumulating the
float64 sums of :class:`~ldr_mm.reconstruction.GaussianAccumulator`, then an
all-reduce, so N ranks give the single-process statistics.
"""
import copy
import time
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from mmengine.dataset import DefaultSampler
from mmengine.model import is_model_wrapper
from torch.utils.data import DataLoader

from .statistics import GaussianAccumulator, GaussianStatistics


def statistics_dataset(dataset, pipeline: Sequence[dict]):
    """A view of ``dataset`` that runs ``pipeline`` (the test pipeline).

    The annotations are shared with ``dataset`` (shallow copy; nothing is
    re-parsed); only the transform pipeline changes. ``RepeatDataset`` and
    ``ClassBalancedDataset`` wrappers are unwrapped: the statistics are over
    the training set, each image once.

    Raises:
        TypeError: ``dataset`` has no ``pipeline`` to replace.
    """
    from mmengine.dataset import ClassBalancedDataset, RepeatDataset
    from mmengine.dataset.base_dataset import Compose

    from mmpretrain.registry import TRANSFORMS
    while isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        dataset = dataset.dataset
    if not hasattr(dataset, 'pipeline'):
        raise TypeError(
            f'Cannot run the statistics pass over a {type(dataset).__name__}'
            ': it has no `pipeline` to replace with the test pipeline. Set '
            'the hook\'s `stats_dataloader=dict(dataset=...)` explicitly.')
    view = copy.copy(dataset)
    # built from MMPretrain's registry whatever the default scope
    view.pipeline = Compose([
        TRANSFORMS.build(t) if isinstance(t, dict) else t
        for t in copy.deepcopy(list(pipeline))
    ])
    return view


def build_statistics_dataloader(dataset,
                                batch_size: int,
                                num_workers: int = 0,
                                collate_fn: Union[None, dict,
                                                  Callable] = None,
                                seed: int = 0,
                                pin_memory: bool = False) -> DataLoader:
    """A deterministic loader over this rank's share of ``dataset``.

    MMEngine's ``DefaultSampler(shuffle=False, round_up=False)`` gives rank r
    the indices r, r + W, r + 2W, ... -- every image exactly once over all
    ranks, no padding duplicates. Built by ``Runner.build_dataloader`` (so
    ``collate_fn`` is resolved as MMEngine resolves it: a config dict, a
    callable, or ``pseudo_collate`` by default) with an explicit sampler
    seed and a ``generator``: the loader's base seed then comes from it, not
    from the global torch RNG, and the sampler does not draw its seed from
    the global numpy RNG, so a statistics pass does not shift the training
    random stream.

    Args:
        dataset: The dataset (see :func:`statistics_dataset`).
        batch_size (int): Images per batch.
        num_workers (int): Loader workers. Defaults to 0.
        collate_fn (dict | callable, optional): As a config's
            ``train_dataloader.collate_fn``. Defaults to ``pseudo_collate``.
        seed (int): Seed of the sampler and the loader's generator.
        pin_memory (bool): Defaults to False.
    """
    from mmengine.runner import Runner
    cfg = dict(
        dataset=dataset,
        sampler=dict(
            type='DefaultSampler',
            shuffle=False,
            seed=int(seed) % 2**31,
            round_up=False),
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=False,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(int(seed)))
    if collate_fn is not None:
        cfg['collate_fn'] = copy.deepcopy(collate_fn) if isinstance(
            collate_fn, dict) else collate_fn
    return Runner.build_dataloader(cfg, seed=None)


#: Keys of the ``stats_dataloader`` option of :class:`~ldr_mm.engine.
#: EMTrainLoop`.
STATS_LOADER_KEYS = ('batch_size', 'num_workers', 'pipeline', 'dataset',
                     'pin_memory', 'source', 'views')

#: Values of ``stats_dataloader.source``.
STATS_SOURCES = ('train', 'train+val')


def _loader_pipeline(cfg, keys: Sequence[str]):
    """The pipeline of the first of the loaders ``keys`` that has one."""
    from ldr_mm.utils import inner_dataset_cfg
    for key in keys:
        inner = inner_dataset_cfg((cfg.get(key) or {}).get('dataset'))
        pipeline = copy.deepcopy((inner or {}).get('pipeline'))
        if pipeline is not None:
            return pipeline
    return None


def check_statistics_source(options: dict) -> None:
    """Validate ``source`` and ``views`` of a ``stats_dataloader`` option.

    Raises:
        ValueError: An unknown source, or ``views`` not a positive int.
    """
    source = options.get('source', 'train')
    if source not in STATS_SOURCES:
        raise ValueError(
            f'train_cfg.stats_dataloader.source={source!r} is not one of '
            f'{STATS_SOURCES}')
    views = options.get('views', 1)
    if isinstance(views, bool) or not isinstance(views, int) or views < 1:
        raise ValueError(
            f'train_cfg.stats_dataloader.views={views!r} must be an int >= 1 '
            '(passes over each image; > 1 with a random pipeline gives '
            'augmented views)')
    if options.get('dataset') is not None and source != 'train':
        raise ValueError(
            'train_cfg.stats_dataloader sets both `dataset` and `source`: '
            'an explicit dataset is the whole source; drop one of them.')


def build_statistics_source(cfg, train_dataset, options: dict):
    """The dataset of the statistics pass, from a run's config.

    Args:
        cfg (Config): The run's config (for the test / val / train
            pipelines and the val dataset).
        train_dataset: The built training dataset.
        options (dict): ``stats_dataloader`` overrides:

            - ``pipeline``: default the test loader's, else the val
              loader's; with ``views > 1`` the *train* loader's (random
              augmentation: a deterministic pipeline would repeat the same
              features).
            - ``source``: ``'train'`` (default; the paper) or
              ``'train+val'`` (the training set and then the validation
              set; the validation metrics are then no longer held out, so
              choose settings with ``'train'`` and use this for a final
              model).
            - ``views`` (int): passes over each image (default 1). The
              statistics count every view as a sample, which also lowers
              the automatic shrinkage.
            - ``dataset``: a dataset config that replaces the source (its
              ``pipeline`` replaced by the one above).

    Raises:
        ValueError: Bad options, no pipeline can be found, or the val
            dataset's classes differ from the training set's.
    """
    from mmpretrain.registry import DATASETS
    from torch.utils.data import ConcatDataset
    check_statistics_source(options)
    views = int(options.get('views', 1))
    pipeline = options.get('pipeline')
    if pipeline is None:
        keys = (('train_dataloader', ) if views > 1 else
                ('test_dataloader', 'val_dataloader'))
        pipeline = _loader_pipeline(cfg, keys)
    if options.get('dataset') is not None:
        ds_cfg = copy.deepcopy(options['dataset'])
        if pipeline is not None:
            ds_cfg['pipeline'] = pipeline
        parts = [DATASETS.build(ds_cfg)]
    else:
        if pipeline is None:
            raise ValueError(
                'No test pipeline for the statistics pass: set '
                'test_dataloader.dataset.pipeline or train_cfg.'
                'stats_dataloader=dict(pipeline=[...]).')
        parts = [statistics_dataset(train_dataset, pipeline)]
        if options.get('source', 'train') == 'train+val':
            parts.append(_val_statistics_dataset(cfg, parts[0], pipeline))
    parts = parts * views
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def _val_statistics_dataset(cfg, train_view, pipeline):
    """The val dataset of ``cfg`` with ``pipeline``, checked against the
    training set's classes."""
    from mmpretrain.registry import DATASETS
    from ldr_mm.utils import check_same_classes, inner_dataset_cfg
    val_cfg = inner_dataset_cfg((cfg.get('val_dataloader') or {}).get(
        'dataset'))
    if val_cfg is None:
        raise ValueError(
            "train_cfg.stats_dataloader.source='train+val' needs a "
            'val_dataloader.dataset in the config')
    val_cfg = copy.deepcopy(val_cfg)
    val_cfg['pipeline'] = pipeline
    val = DATASETS.build(val_cfg)
    check_same_classes(
        (getattr(train_view, 'metainfo', None) or {}).get('classes'),
        (getattr(val, 'metainfo', None) or {}).get('classes'),
        "train_cfg.stats_dataloader.source='train+val': the val dataset vs "
        'the training set', hint='Both splits must name the same classes.',
        error=ValueError)
    return val


def statistics_loader_options(cfg, options: dict) -> dict:
    """``batch_size``, ``num_workers``, ``collate_fn`` and ``pin_memory`` of
    the statistics loader: the ``options`` overrides, else the val loader's
    batch size (else the train loader's, else 32), the train loader's
    workers and collate function."""
    train_dl = cfg.get('train_dataloader') or {}
    val_dl = cfg.get('val_dataloader') or {}
    batch_size = (options.get('batch_size') or val_dl.get('batch_size')
                  or train_dl.get('batch_size') or 32)
    return dict(
        batch_size=int(batch_size),
        num_workers=int(
            options.get('num_workers', train_dl.get('num_workers', 0))),
        collate_fn=train_dl.get('collate_fn'),
        pin_memory=bool(options.get('pin_memory', False)))


@torch.no_grad()
def class_features(model, data: dict
                   ) -> Tuple[torch.Tensor, torch.Tensor,
                              Optional[torch.Tensor]]:
    """Class-aware features, binary labels and label mask of a batch.

    Args:
        model: An (unwrapped) :class:`~ldr_mm.models.LDRClassifier`.
        data (dict): A batch from the data loader.

    Returns:
        tuple: x_class (B, C, D), labels (B, C) bool (targets >= 0.5, so
        soft targets count where they lean) and the U-Ignore mask (B, C)
        float, 1 = known label (:func:`~ldr_mm.models.heads.label_mask.
        gt_mask_of`), or None when no sample has ``gt_mask``.
    """
    from ldr_mm.models.heads.label_mask import gt_mask_of
    data = model.data_preprocessor(data, False)
    feats = model.extract_feat(data['inputs'])
    x = feats[-1] if isinstance(feats, (tuple, list)) else feats
    samples = data['data_samples']
    labels = model.head.targets(samples, x.device) >= 0.5
    mask = gt_mask_of(samples, labels.shape[1], x.device)
    return x, labels, mask


def _log_progress(done: int, total: Optional[int], interval: int) -> None:
    """``statistics pass: done/total batches`` in the current MMEngine
    logger (rank 0), every ``interval`` batches and at the end."""
    from mmengine.dist import is_main_process
    from mmengine.logging import MMLogger
    last = total is not None and done == total
    if (interval <= 0 or not is_main_process()
            or not (done % interval == 0 or last)):
        return
    of = f'/{total}' if total is not None else ''
    MMLogger.get_current_instance().info(
        f'statistics pass: {done}{of} batches')


def estimate_class_statistics(model,
                              dataloader,
                              cov_type: str = 'full',
                              shrinkage='auto',
                              ridge: float = 1e-3,
                              classes: Optional[Sequence[str]] = None,
                              log_interval: int = 50
                              ) -> Tuple[GaussianStatistics, dict]:
    """Run the statistics pass and compute the Gaussians.

    The model is put in eval mode (no dropout, BN running statistics) for
    the pass and its training mode restored afterwards. U-Ignore masks
    (``gt_mask``) are honoured: a masked label of class c is left out of
    class c's statistics (see :meth:`GaussianAccumulator.update`).
    Progress goes to the runner's logger as MMEngine's own loops report
    theirs (rank 0, every ``log_interval`` batches; no RNG is touched).

    Args:
        model: :class:`~ldr_mm.models.LDRClassifier`, wrapped or not.
        dataloader: From :func:`build_statistics_dataloader` (every rank must
            call this function: the sums are all-reduced).
        cov_type, shrinkage, ridge: See
            :meth:`GaussianAccumulator.compute`.
        classes (Sequence[str], optional): Class names.
        log_interval (int): Batches between progress lines; 0 = silent.
            Defaults to 50.

    Returns:
        tuple: The :class:`GaussianStatistics` and a dict with ``images``
        (all ranks), ``seconds`` and ``accumulator_bytes``.
    """
    if is_model_wrapper(model):
        model = model.module
    head = model.head
    C, D = int(head.num_classes), int(head.in_channels)
    device = next(model.parameters()).device
    acc = GaussianAccumulator(C, D, cov_type=cov_type, device=device)
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    try:
        total = len(dataloader) if hasattr(dataloader, '__len__') else None
        for i, data in enumerate(dataloader, 1):
            acc.update(*class_features(model, data))
            _log_progress(i, total, log_interval)
    finally:
        model.train(was_training)
    acc.all_reduce()
    seconds = time.perf_counter() - t0
    stats = acc.compute(shrinkage=shrinkage, ridge=ridge, classes=classes)
    info = dict(
        images=stats.num_samples,
        seconds=seconds,
        accumulator_bytes=acc.nbytes())
    return stats, info
