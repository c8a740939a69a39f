"""Compare two class lists and say exactly how they differ."""
from typing import Optional, Sequence, Tuple, Type


class ClassMismatchError(ValueError):
    """Two parts of a run (checkpoint, config, dataset, prompt cache) name
    different classes, or the same classes in another order."""


def class_difference(got: Sequence[str], expected: Sequence[str],
                     limit: int = 6,
                     names: Tuple[str, str] = ('the first', 'the second')
                     ) -> str:
    """How ``got`` differs from ``expected``, in a few words.

    Args:
        got (Sequence[str]): One class list.
        expected (Sequence[str]): The other.
        limit (int): Positions listed at most.
        names (tuple[str, str]): What the two lists are, for the
            ``only in ...`` parts, e.g. ``('the file', 'the model')``.

    Returns:
        str: ``''`` if equal; else the counts and the names only in one of
        them, ``'same names in another order'`` plus the first positions that
        differ (``#i: got vs expected``).
    """
    got, expected = [str(c) for c in got], [str(c) for c in expected]
    if got == expected:
        return ''
    parts = []
    if len(got) != len(expected):
        parts.append(f'{len(got)} vs {len(expected)} classes')
    only_got = [c for c in got if c not in expected]
    only_exp = [c for c in expected if c not in got]
    if only_got or only_exp:
        parts.append(f'only in {names[0]}: {only_got}; only in {names[1]}: '
                     f'{only_exp}')
    elif sorted(got) == sorted(expected):
        parts.append('same names in another order')
    diff = [f'#{i}: {a!r} vs {b!r}' for i, (a, b) in
            enumerate(zip(got, expected)) if a != b]
    if diff:
        parts.append(', '.join(diff[:limit]) +
                     (' ...' if len(diff) > limit else ''))
    return '; '.join(parts)


def check_same_classes(expected: Optional[Sequence[str]],
                       got: Optional[Sequence[str]],
                       where: str,
                       hint: str = '',
                       error: Type[Exception] = ClassMismatchError) -> None:
    """Raise unless ``got`` names the classes of ``expected``, in order.

    Nothing is checked when either list is ``None`` (not recorded).

    Args:
        expected (Sequence[str], optional): The reference list (e.g. the
            dataset's classes).
        got (Sequence[str], optional): The list to check (e.g. the classes a
            checkpoint was trained on).
        where (str): Names both sides, as ``'<got> vs <expected>'``, e.g.
            ``'checkpoint "a.pth" vs the test dataset'``.
        hint (str): The fix, appended to the message.
        error (type): The exception class raised. Defaults to
            :class:`ClassMismatchError`.

    Raises:
        error: The lists differ. The message names both lists and the
            difference (see :func:`class_difference`).
    """
    if expected is None or got is None:
        return
    diff = class_difference(got, expected)
    if diff:
        raise error(f'{where}: the classes {list(map(str, got))} differ '
                    f'from {list(map(str, expected))} ({diff}).' +
                    (f' {hint}' if hint else ''))
