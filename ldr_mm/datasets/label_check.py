"""Check the ``gt_label`` of every sample once, when a dataset is built.

MMPretrain's ``MultiLabelDataset`` takes ``gt_label`` as given: a label of
-1 or C fails only at evaluation ("Class values must be non-negative",
naming no file), and a label of 3.7 becomes class 3 in ``format_label``.
These functions refuse such labels up front, naming the annotation file and
the sample.
"""
import numbers
from typing import List, Optional, Sequence

from .errors import AnnotationError


def label_indices(labels, num_classes: int, where: str) -> List[int]:
    """The class indices of one sample's ``gt_label``, checked.

    Args:
        labels: An int, or a sequence / 1-D array of ints (integral floats
            such as ``3.0`` are accepted; ``3.7`` is not).
        num_classes (int): C; every index must be in ``0..C-1``.
        where (str): The file and sample, for the message.

    Returns:
        list[int]: The indices.

    Raises:
        AnnotationError: A non-integer, negative or too large index, or
            an index given twice (e.g. a one-hot vector written as
            ``gt_label``).
    """
    if hasattr(labels, 'tolist'):
        labels = labels.tolist()
    if isinstance(labels, numbers.Number):
        labels = [labels]
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise AnnotationError(
            f'{where}: gt_label {labels!r} is not a list of class indices')
    out = []
    for v in labels:
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and \
            float(v).is_integer()
        if not ok or not 0 <= int(v) < num_classes:
            raise AnnotationError(
                f'{where}: gt_label {list(labels)} holds {v!r}; labels must '
                f'be integer class indices in 0..{num_classes - 1} '
                f'({num_classes} classes). Fix the annotation file.')
        out.append(int(v))
    if len(set(out)) != len(out):
        raise AnnotationError(_repeated_message(out, num_classes, where))
    return out


def _repeated_message(out: List[int], num_classes: int, where: str) -> str:
    """The message for a ``gt_label`` that names a class twice."""
    shown = out if len(out) <= 20 else out[:20] + ['...']
    if len(out) == num_classes and set(out) <= {0, 1}:
        ones = [i for i, v in enumerate(out) if v == 1]
        return (f'{where}: gt_label {shown} looks one-hot ({num_classes} '
                'values, all 0 or 1), but gt_label holds class indices, so '
                'it would be read as classes {0, 1}. Write the indices of '
                f'the positive classes ({ones}), or, with MMPretrain\'s '
                'MultiLabelDataset, put the 0/1 vector in gt_score.')
    seen, repeated = set(), []
    for v in out:
        if v in seen and v not in repeated:
            repeated.append(v)
        seen.add(v)
    return (f'{where}: gt_label {shown} names the classes {repeated} more '
            'than once; write each positive class index once. Fix the '
            'annotation file.')


def sample_name(info: dict, index: int) -> str:
    path = info.get('img_path')
    return f'data_list[{index}]' + (f' ("{path}")' if path else '')


def check_data_list(data_list: Sequence[dict], num_classes: int,
                    ann_file: Optional[str]) -> None:
    """Check and normalise (to ``list[int]``) every ``gt_label`` in place."""
    for i, info in enumerate(data_list):
        if 'gt_label' in info:
            info['gt_label'] = label_indices(
                info['gt_label'], num_classes,
                f'"{ann_file}" {sample_name(info, i)}')


def check_dataset_labels(dataset) -> None:
    """Check the labels of a built dataset once (any MMEngine dataset with
    ``metainfo['classes']``, e.g. MMPretrain's ``MultiLabelDataset``).

    A dataset that was checked when it was built (the ldr_mm datasets) or by
    an earlier call is skipped.

    Raises:
        AnnotationError: The first bad label, naming the annotation file and
            the sample index and path.
    """
    if getattr(dataset, '_ldr_labels_checked', False):
        return
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if not classes or not hasattr(dataset, 'get_data_info'):
        return
    ann_file = getattr(dataset, 'ann_file', None) or type(dataset).__name__
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if 'gt_label' in info:
            label_indices(info['gt_label'], len(classes),
                          f'"{ann_file}" {sample_name(info, i)}')
    dataset._ldr_labels_checked = True
