"""Fail early, with a clear message, when model and dataset disagree."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

from ldr_mm.datasets.label_check import check_dataset_labels
from ldr_mm.datasets.overlap import build_split_dataset, check_split_overlap
from ldr_mm.datasets.splits import classes_without_positives
from ldr_mm.prompts import PromptCacheError, make_cache_command
from ldr_mm.utils import check_same_classes


def check_batch_size(dataloader, where: str = 'dataset') -> None:
    """Raise if the dataloader would yield no batch (an empty dataset, or
    ``drop_last=True`` with ``batch_size`` larger than the dataset), which
    MMEngine reports as a bare ``StopIteration``."""
    n = len(dataloader.dataset)
    if n == 0:
        raise ValueError(f'The {where} has no samples; check its ann_file '
                         'and split')
    bs = getattr(dataloader, 'batch_size', None)
    try:
        per_rank = len(dataloader.sampler)
    except (AttributeError, TypeError):  # a sampler without a length
        per_rank = n
    if getattr(dataloader, 'drop_last', False) and bs and bs > per_rank:
        raise ValueError(
            f'The {where} has {n} samples ({per_rank} per process) but '
            f'batch_size={bs} with drop_last=True: no batch would ever be '
            'drawn. Lower the batch_size or set drop_last=False in the '
            'dataloader config.')


def warn_missing_positives(dataset, logger,
                           where: str = 'validation dataset') -> None:
    """Warn, naming them, about the classes without a positive sample in
    ``dataset``: their AUC / AP are undefined, so the means that
    ``save_best`` chooses on cover the other classes only."""
    missing = classes_without_positives(dataset)
    if missing:
        n = len(dataset.metainfo['classes'])
        logger.warning(
            f'The {where} has no positive sample of {missing}: their AUC / '
            'AP are undefined, so the validation means and save_best use '
            f'the other {n - len(missing)} of {n} classes only. More '
            'validation patients (split_ratios), the stratified split or '
            'k-fold cross-validation (num_folds=, fold=) of '
            'MultiLabelCSVDataset help (docs/datasets.md, "Splits").')


def check_model_classes(model, classes: Optional[Sequence[str]],
                        where: str = 'dataset') -> None:
    """Raise if ``model`` was built for other classes than ``classes``.

    Checks ``head.num_classes`` and ``data_preprocessor.num_classes`` (the
    width of the one-hot labels) against the number of classes and, for an
    :class:`~ldr_mm.models.LDRNeck` with a prompt, the class names the prompt
    cache was made for.

    Raises:
        ValueError: A class count differs (naming the setting to change).
        PromptCacheError: The prompt cache names other classes.
    """
    if is_model_wrapper(model):
        model = model.module
    if not classes:
        return
    classes = list(classes)
    head = getattr(model, 'head', None)
    n = getattr(head, 'num_classes', None)
    if n is not None and n != len(classes):
        raise ValueError(
            f'The model has num_classes={n} but the {where} has '
            f'{len(classes)} classes {classes}. Set model.head.num_classes='
            f'{len(classes)} in the config.')
    pre = getattr(getattr(model, 'data_preprocessor', None), 'num_classes',
                  None)
    if pre is not None and pre != len(classes):
        raise ValueError(
            f'data_preprocessor.num_classes={pre} but the {where} has '
            f'{len(classes)} classes (model.head.num_classes={n}): the '
            'one-hot labels would have the wrong width. Set '
            f'data_preprocessor.num_classes={len(classes)} in the config.')
    neck = getattr(model, 'neck', None)
    path = getattr(neck, 'prompt_cache', None) or 'PROMPT_CACHE'
    check_same_classes(
        classes, getattr(neck, 'prompt_classes', None),
        f'the prompt cache "{path}" vs the {where}',
        'Make a matching cache with:\n  ' +
        make_cache_command(path, classes=classes), error=PromptCacheError)


@HOOKS.register_module()
class ClassConsistencyHook(Hook):
    """Check model vs dataset classes before training, validation and test.

    Catches, before any iteration runs (the validation set too, at the
    start of training): a config whose ``model.head.num_classes`` or
    ``data_preprocessor.num_classes`` disagrees with the dataset, a prompt
    cache made for other class names, a dataset with a label outside
    ``0..C-1`` or not an integer (checked once per dataset; the ldr_mm
    datasets check while loading), an empty dataset, and ``drop_last=True``
    with a batch larger than the dataset (an epoch without a batch).

    At the start of training it also compares the training, validation and
    test sets (the test set is read from its annotations only): duplicate
    images inside a split, images or patient ids shared between splits are
    logged as a warning, or refused with ``split_overlap = 'error'`` in the
    config (:func:`~ldr_mm.datasets.overlap.check_split_overlap`).
    It also warns, naming them, about classes without a positive in the
    validation set (``save_best`` then chooses on fewer classes).
    """
    priority = 'VERY_HIGH'

    @staticmethod
    def _check(runner, dataloader, where: str) -> None:
        dataset = getattr(dataloader, 'dataset', None)
        if dataset is not None:
            check_dataset_labels(dataset)
            check_batch_size(dataloader, where)
        meta = getattr(dataset, 'metainfo', None) or {}
        check_model_classes(runner.model, meta.get('classes'), where)

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'training dataset')
        if runner.val_loop is not None:  # checked now, not after an epoch
            self._check(runner, runner.val_loop.dataloader,
                        'validation dataset')
            warn_missing_positives(runner.val_loop.dataloader.dataset,
                                   runner.logger)
        self._check_splits(runner)

    @staticmethod
    def _check_splits(runner) -> None:
        """Duplicates / overlap of the train, val and test sets."""
        on_overlap = runner.cfg.get('split_overlap', 'warn')
        datasets = {'train': runner.train_dataloader.dataset}
        if runner.val_loop is not None:
            datasets['val'] = runner.val_loop.dataloader.dataset
        test = runner._test_dataloader  # a config until runner.test()
        if isinstance(test, dict):
            try:
                test = build_split_dataset(test.get('dataset'))
            except Exception as e:  # the test set may not be there yet
                if on_overlap == 'error':
                    raise
                runner.logger.warning(
                    'Split check: the test set was not compared with the '
                    f'training set, it could not be read ({e})')
                test = None
        else:
            test = getattr(test, 'dataset', None)
        if test is not None:
            datasets['test'] = test
        check_split_overlap(datasets, on_overlap, runner.logger)

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_loop.dataloader, 'validation dataset')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_loop.dataloader, 'test dataset')
