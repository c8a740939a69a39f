"""The head / tail class groups of a dataset as column indices."""
from typing import Dict, List, Optional, Sequence


def head_tail_groups(classes: Sequence[str],
                     head: Optional[Sequence[str]] = None,
                     tail: Optional[Sequence[str]] = None
                     ) -> Dict[str, List[int]]:
    """Column indices of the class groups that metrics average over.

    Args:
        classes (Sequence[str]): The C class names, in column order.
        head, tail (Sequence[str], optional): Names of the head / tail
            classes (``head_classes`` / ``tail_classes`` of the dataset
            metainfo); an empty or missing group is left out.

    Returns:
        dict[str, list[int]]: ``'mean'``: all C columns, then ``'head'`` and
        ``'tail'`` where given, in the order of their names.

    Raises:
        ValueError: A group names a class that is not in ``classes``.
    """
    classes = list(classes)
    groups = {'mean': list(range(len(classes)))}
    for group, names in (('head', head), ('tail', tail)):
        if names:
            unknown = [n for n in names if n not in classes]
            if unknown:
                raise ValueError(f'{group}_classes {unknown} are not among '
                                 f'the dataset classes {classes}')
            groups[group] = [classes.index(n) for n in names]
    return groups
