"""Seeded patient-level splits and per-split class statistics.

Used by the medical datasets (to split raw metadata on the fly) and by the
converters in ``tools/dataset_converters/`` (to write the split annotation
files), so both give exactly the same split for the same seed.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

SPLITS = ('train', 'val', 'test')
#: Names a dataset's ``split`` argument accepts.
SPLIT_CHOICES = ('train', 'val', 'test', 'trainval', 'all')
#: The paper's patient-level random split.
DEFAULT_RATIOS = (0.7, 0.1, 0.2)


def patient_split(patient_ids: Sequence[str],
                  weights: Optional[Sequence[float]] = None,
                  ratios: Sequence[float] = DEFAULT_RATIOS,
                  seed: int = 0,
                  names: Sequence[str] = SPLITS) -> Dict[str, str]:
    """Assign whole patients to splits so that the weights follow ``ratios``.

    The unique patient ids are sorted (so row order does not matter),
    shuffled with ``numpy.random.default_rng(seed)`` and laid end to end
    with their weights (usually their image count); a patient goes to the
    split whose share of the total weight contains the middle of the
    patient's segment. Each split's share is therefore within half the
    largest patient weight of its target, and no patient is in two splits.

    Args:
        patient_ids (Sequence[str]): One id per patient (unique) or per
            image (repeated ids are counted once, with the summed weight
            when ``weights`` is None: the number of images).
        weights (Sequence[float], optional): Weight of each entry of
            ``patient_ids``; summed per patient. Defaults to 1 per entry.
        ratios (Sequence[float]): Target shares of ``names``.
        seed (int): Shuffle seed.
        names (Sequence[str]): Split names, as many as ``ratios``.

    Returns:
        dict: ``{patient_id: split_name}``.
    """
    if len(names) != len(ratios):
        raise ValueError(f'{len(names)} split names but {len(ratios)} ratios')
    ratios = np.asarray(ratios, dtype=np.float64)
    if (ratios < 0).any() or ratios.sum() <= 0:
        raise ValueError(f'Invalid split ratios {ratios.tolist()}')
    ratios = ratios / ratios.sum()
    pids = [str(p) for p in patient_ids]
    w = np.ones(len(pids)) if weights is None else np.asarray(
        weights, dtype=np.float64)
    if w.shape != (len(pids), ):
        raise ValueError(f'{len(pids)} patient ids but {w.size} weights')
    uniq, inverse = np.unique(np.asarray(pids, dtype=object).astype(str),
                              return_inverse=True)
    per_patient = np.bincount(inverse, weights=w, minlength=len(uniq))
    order = np.random.default_rng(seed).permutation(len(uniq))
    cum = np.cumsum(per_patient[order])
    total = cum[-1] if len(cum) else 0.0
    mids = cum - per_patient[order] / 2.0
    bounds = np.cumsum(ratios)[:-1] * total
    which = np.searchsorted(bounds, mids, side='right')
    return {str(uniq[i]): names[k] for i, k in zip(order, which)}


def wanted_splits(split: str) -> Tuple[str, ...]:
    """The split names a dataset ``split`` argument selects
    (``'trainval'`` = train + val, ``'all'`` = every split)."""
    if split not in SPLIT_CHOICES:
        raise ValueError(f'Unknown split {split!r}; choose one of '
                         f'{SPLIT_CHOICES}')
    if split == 'all':
        return SPLITS
    return ('train', 'val') if split == 'trainval' else (split, )


def format_split_report(classes: Sequence[str],
                        split_labels: Dict[str, np.ndarray],
                        split_patients: Dict[str, int],
                        head_classes: Sequence[str] = (),
                        tail_classes: Sequence[str] = (),
                        unit: str = 'images') -> str:
    """Per-class positive counts per split, as a text table.

    Args:
        classes (Sequence[str]): Class names (C,).
        split_labels (dict): ``{split: (N_split, C) 0/1 matrix}``.
        split_patients (dict): ``{split: number of patients}``.
        head_classes, tail_classes: The dataset's groups.
        unit (str): What a row of the matrices is ("images", "patients").

    Returns:
        str: The report (head/tail lists, sizes, per-class table).
    """
    from ldr_mm.evaluation.report import format_table
    splits = list(split_labels)
    sizes = {s: int(split_labels[s].shape[0]) for s in splits}
    total = sum(sizes.values())
    lines = [f'head classes: {", ".join(head_classes) or "-"}',
             f'tail classes: {", ".join(tail_classes) or "-"}', '']
    rows = [[s, sizes[s], f'{100.0 * sizes[s] / max(total, 1):.2f}%',
             split_patients.get(s, 0)] for s in splits]
    rows.append(['total', total, '100.00%',
                 sum(split_patients.get(s, 0) for s in splits)])
    lines.append(format_table(['split', unit, 'share', 'patients'], rows))
    lines.append('')
    counts = {s: split_labels[s].sum(0).astype(np.int64) for s in splits}
    rows = []
    for i, c in enumerate(classes):
        group = 'head' if c in head_classes else (
            'tail' if c in tail_classes else '')
        row = [c, group] + [int(counts[s][i]) for s in splits]
        rows.append(row + [sum(int(counts[s][i]) for s in splits)])
    none = {s: int((split_labels[s].sum(1) == 0).sum()) for s in splits}
    rows.append(['(no label)', ''] + [none[s] for s in splits] +
                [sum(none.values())])
    lines.append(f'positive {unit} per class:')
    lines.append(format_table(['class', 'group'] + splits + ['total'], rows))
    return '\n'.join(lines)

