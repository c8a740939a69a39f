"""Fail early, with a clear message, when model and dataset disagree."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

from ldr_mm.prompts import PromptCacheError, make_cache_command
from ldr_mm.utils import check_same_classes


def check_model_classes(model, classes: Optional[Sequence[str]],
                        where: str = 'dataset') -> None:
    """Raise if ``model`` was built for other classes than ``classes``.

    Checks ``head.num_classes`` against the number of classes and, for an
    :class:`~ldr_mm.models.LDRNeck` with a prompt, the class names the prompt
    cache was made for.

    Raises:
        ValueError: The class count differs.
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

    Catches a config whose ``num_classes`` disagrees with the dataset, and a
    prompt cache made for other class names, before any iteration runs.
    """
    priority = 'VERY_HIGH'

    @staticmethod
    def _classes(dataloader):
        dataset = getattr(dataloader, 'dataset', None)
        meta = getattr(dataset, 'metainfo', None) or {}
        return meta.get('classes')

    def before_train(self, runner) -> None:
        check_model_classes(runner.model,
                            self._classes(runner.train_dataloader),
                            'training dataset')

    def before_val(self, runner) -> None:
        check_model_classes(runner.model,
                            self._classes(runner.val_loop.dataloader),
                            'validation dataset')

    def before_test(self, runner) -> None:
        check_model_classes(runner.model,
                            self._classes(runner.test_loop.dataloader),
                            'test dataset')
