"""Duplicate images inside a split and images or patients shared by splits.

A dataset sees one split at a time, so these checks take the built datasets
of several splits at once (``ClassConsistencyHook`` calls
:func:`check_split_overlap` with the training, validation and test sets
before the first iteration). A model tested on images -- or patients -- it
was trained or selected on reports optimistic results, and a repeated image
counts twice in every metric; neither is an error in MMEngine.
"""
import itertools
import os.path as osp
from collections import Counter
from typing import Dict, Iterator, List, NamedTuple, Optional, Set

from .errors import AnnotationError
from .metadata import metadata_only

#: Values of the ``split_overlap`` config setting.
SPLIT_OVERLAP_CHOICES = ('warn', 'error')
#: How many paths / ids a message shows.
SHOWN = 5


class SplitKeys(NamedTuple):
    """The image paths (one entry per image of every sample, repeats kept)
    and the patient ids of one split."""
    paths: List[str]
    patients: Set[str]


def _leaf_datasets(dataset) -> Iterator:
    """``dataset`` without MMEngine's wrappers: a ``RepeatDataset`` /
    ``ClassBalancedDataset`` repeats samples on purpose (its inner dataset
    is checked), a ``ConcatDataset`` is checked part by part."""
    from mmengine.dataset import ClassBalancedDataset, RepeatDataset
    from torch.utils.data import ConcatDataset
    while isinstance(dataset, (RepeatDataset, ClassBalancedDataset)):
        dataset = dataset.dataset
    if isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            yield from _leaf_datasets(part)
    else:
        yield dataset


def _norm(path) -> str:
    path = str(path)
    return path if '://' in path else osp.normpath(osp.abspath(path))


def split_keys(dataset) -> SplitKeys:
    """The :class:`SplitKeys` of a built dataset (``get_data_info``)."""
    paths, patients = [], set()
    for leaf in _leaf_datasets(dataset):
        if not hasattr(leaf, 'get_data_info'):
            continue
        for i in range(len(leaf)):
            info = leaf.get_data_info(i)
            p = info.get('img_path')
            if p is not None:
                paths.extend(_norm(q) for q in (
                    p if isinstance(p, (list, tuple)) else [p]))
            pid = info.get('patient_id')
            if pid not in (None, ''):
                patients.add(str(pid))
    return SplitKeys(paths, patients)


def _first(items) -> str:
    items = sorted(items)
    more = ', ...' if len(items) > SHOWN else ''
    return ', '.join(f'"{x}"' for x in items[:SHOWN]) + more


def find_split_overlap(keys: Dict[str, SplitKeys]) -> List[str]:
    """Describe every problem, one string each (empty: none).

    Args:
        keys (dict[str, SplitKeys]): Split name (``'train'`` ...) to keys.

    Returns:
        list[str]: Duplicate paths per split (counts and the first few),
        then, per pair of splits, shared image paths and patient ids.
    """
    found = []
    for name, k in keys.items():
        dup = {p: n for p, n in Counter(k.paths).items() if n > 1}
        if dup:
            found.append(
                f'the {name} split lists {len(dup)} images more than once '
                f'({sum(dup.values()) - len(dup)} extra entries; first: '
                f'{_first(dup)})')
    for (a, ka), (b, kb) in itertools.combinations(keys.items(), 2):
        shared = set(ka.paths) & set(kb.paths)
        if shared:
            found.append(f'the {a} and {b} splits share {len(shared)} '
                         f'images (first: {_first(shared)})')
        shared = ka.patients & kb.patients
        if shared:
            found.append(f'the {a} and {b} splits share {len(shared)} '
                         f'patient ids (first: {_first(shared)})')
    return found


def check_split_overlap(datasets: Dict[str, object], on_overlap: str = 'warn',
                        logger=None) -> List[str]:
    """Warn about (or refuse) duplicate and shared images / patients.

    Args:
        datasets (dict[str, Dataset]): Split name to built dataset, e.g.
            ``{'train': ..., 'val': ..., 'test': ...}``.
        on_overlap (str): ``'warn'`` (log a warning) or ``'error'`` (raise);
            the config setting ``split_overlap``.
        logger: Where the warning goes; MMEngine's current logger if None.

    Returns:
        list[str]: The problems found (see :func:`find_split_overlap`).

    Raises:
        ValueError: ``on_overlap`` is not one of
            :data:`SPLIT_OVERLAP_CHOICES`.
        AnnotationError: A problem was found and ``on_overlap='error'``.
    """
    if on_overlap not in SPLIT_OVERLAP_CHOICES:
        raise ValueError(f'split_overlap={on_overlap!r} in the config; '
                         f'choose one of {SPLIT_OVERLAP_CHOICES}')
    found = find_split_overlap(
        {name: split_keys(ds) for name, ds in datasets.items()})
    if not found:
        return found
    msg = ('Split check: ' + '; '.join(found) + '. A repeated image counts '
           'twice in every metric, and results on images or patients that '
           'were trained or selected on are optimistic: remove the '
           'duplicates and split by patient. ')
    if on_overlap == 'error':
        raise AnnotationError(msg + "(split_overlap='error' in the config.)")
    if logger is None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
    logger.warning(msg + "Set split_overlap='error' in the config to stop "
                   'here instead.')
    return found


def build_split_dataset(ds_cfg: Optional[dict]):
    """The dataset of a dataloader config, annotations only (no images, no
    pipeline), for :func:`check_split_overlap`; None without a dataset."""
    import copy

    from mmpretrain.registry import DATASETS
    if not ds_cfg:
        return None
    return DATASETS.build(metadata_only(copy.deepcopy(ds_cfg), DATASETS))
