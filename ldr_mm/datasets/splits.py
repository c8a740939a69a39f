"""Seeded patient-level splits and per-split class statistics.

Used by the medical datasets (to split raw metadata on the fly) and by the
converters in ``tools/dataset_converters/`` (to write the split annotation
files), so both give exactly the same split for the same seed.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

SPLITS = ('train', 'val', 'test')
#: Names a dataset's ``split`` argument accepts.
SPLIT_CHOICES = ('train', 'val', 'test', 'trainval', 'all')
#: The paper's patient-level random split.
DEFAULT_RATIOS = (0.7, 0.1, 0.2)


def _check_ratios(ratios, names) -> np.ndarray:
    if len(names) != len(ratios):
        raise ValueError(f'{len(names)} split names but {len(ratios)} ratios')
    ratios = np.asarray(ratios, dtype=np.float64)
    if (ratios < 0).any() or ratios.sum() <= 0:
        raise ValueError(f'Invalid split ratios {ratios.tolist()}')
    return ratios / ratios.sum()


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
    ratios = _check_ratios(ratios, names)
    uniq, per_patient, _ = _shuffled_patients(patient_ids, weights, None,
                                              seed)
    cum = np.cumsum(per_patient)
    total = cum[-1] if len(cum) else 0.0
    mids = cum - per_patient / 2.0
    bounds = np.cumsum(ratios)[:-1] * total
    which = np.searchsorted(bounds, mids, side='right')
    return {str(p): names[k] for p, k in zip(uniq, which)}


def _patient_table(patient_ids, weights, labels):
    """Unique patients (sorted), their summed weights and any-positive
    label rows."""
    pids = np.asarray([str(p) for p in patient_ids], dtype=object).astype(str)
    w = np.ones(len(pids)) if weights is None else np.asarray(
        weights, dtype=np.float64)
    if w.shape != (len(pids), ):
        raise ValueError(f'{len(pids)} patient ids but {w.size} weights')
    uniq, inverse = np.unique(pids, return_inverse=True)
    per_patient = np.bincount(inverse, weights=w, minlength=len(uniq))
    if labels is None:
        return uniq, per_patient, None
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] != len(pids):
        raise ValueError(f'{len(pids)} patient ids but labels of shape '
                         f'{y.shape}; expected ({len(pids)}, C)')
    pos = np.zeros((len(uniq), y.shape[1]), dtype=bool)
    np.logical_or.at(pos, inverse, y > 0)
    return uniq, per_patient, pos


def _shuffled_patients(patient_ids, weights, labels, seed: int):
    """:func:`_patient_table` in the seeded order of the splits: the sorted
    unique patients permuted by ``numpy.random.default_rng(seed)``, with
    their weights (P, ) and positives (P, C) (None without ``labels``)."""
    uniq, w, pos = _patient_table(patient_ids, weights, labels)
    order = np.random.default_rng(seed).permutation(len(uniq))
    return uniq[order], w[order], None if pos is None else pos[order]


def _cover(pos: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Coverage picks: for each active split in turn, patients that add
    classes the split has no positive of, most (rarest-weighted) classes
    first, while no class with at least as many patients as active splits
    would be left without a patient for a split that still lacks it.

    Args:
        pos (np.ndarray): (P, C) bool, patient positive for class.
        active (np.ndarray): (K, ) bool, splits with a non-zero ratio.

    Returns:
        np.ndarray: (P, ) split index per patient, -1 where not picked.
    """
    P, C = pos.shape
    n_c = pos.sum(0)
    protect = n_c >= active.sum()
    weight = 1.0 + 1.0 / np.maximum(n_c, 1)
    lacking = np.zeros((len(active), C), dtype=bool)
    lacking[active] = n_c > 0
    where = np.full(P, -1)
    for k in np.flatnonzero(active):
        while lacking[k].any():
            free = where < 0
            avail = (pos & free[:, None]).sum(0)
            others = lacking[np.flatnonzero(active & (np.arange(
                len(active)) != k))].sum(0)
            spare = (avail - 1 >= others) | ~protect  # (C, )
            ok = free & ~(pos & ~spare[None, :]).any(1)
            gain = np.where(ok, pos @ (lacking[k] * weight), 0.0)
            if gain.max() <= 0:
                break
            i = int(np.argmax(gain))
            where[i] = k
            lacking[k] &= ~pos[i]
            lacking[~active] = False
    return where


def stratified_patient_split(patient_ids: Sequence[str],
                             labels,
                             weights: Optional[Sequence[float]] = None,
                             ratios: Sequence[float] = DEFAULT_RATIOS,
                             seed: int = 0,
                             names: Sequence[str] = SPLITS
                             ) -> Dict[str, str]:
    """Patient-level split stratified by multi-label positives.

    Iterative stratification (Sechidis et al., ECML-PKDD 2011) over
    patients, after a coverage step for small data. A patient is positive
    for a class if any of its images is.

    1. **coverage** (:func:`_cover`): each split with a non-zero ratio, in
       the order of ``names`` (train, val, test), takes patients that bring
       classes it has no positive of yet, never leaving a class with at
       least as many patients as splits short for a later split -- so such
       a class has positives in every split;
    2. **iterative stratification**: classes rarest first, each remaining
       patient of the class goes to the split furthest below its target
       count of the class (ratio x patients of the class), ties to the
       split furthest below its target weight (images), then to the first
       in ``names``;

    then the patients without any positive fill the splits by weight.
    The patients are shuffled with ``numpy.random.default_rng(seed)`` first,
    so the result depends on the seed, not on the row order.

    Why not scikit-learn's ``StratifiedGroupKFold``: it stratifies one
    label per sample (a multi-label set needs the label combination as the
    key, and a small set has nearly one combination per patient), makes
    only equal folds (7:1:2 needs 10 folds merged) and promises no class in
    every fold; iterative stratification is the multi-label method and the
    coverage step gives the promise.

    Args:
        patient_ids (Sequence[str]): The patient of each image (N,).
        labels (array-like): (N, C) labels of the images; entries > 0 are
            positives (0 and -1 uncertain / masked are not).
        weights (Sequence[float], optional): Weight of each image (N,).
            Defaults to 1 (the image count).
        ratios, seed, names: As in :func:`patient_split`.

    Returns:
        dict: ``{patient_id: split_name}``.
    """
    ratios = _check_ratios(ratios, names)
    uniq, w, pos = _shuffled_patients(patient_ids, weights, labels, seed)
    where = _stratify(pos, w, _cover(pos, ratios > 0), ratios)
    return {str(uniq[i]): names[k] for i, k in enumerate(where)}


def _stratify(pos: np.ndarray, w: np.ndarray, where: np.ndarray,
              ratios: np.ndarray) -> np.ndarray:
    """Step 2 of :func:`stratified_patient_split`: place the patients that
    coverage left out, rarest class first, then those without positives.

    Args:
        pos (np.ndarray): (P, C) bool, patient positive for class.
        w (np.ndarray): (P, ) patient weights.
        where (np.ndarray): (P, ) split index from :func:`_cover`, -1
            where not placed yet; filled in place.
        ratios (np.ndarray): (K, ) normalised target shares.

    Returns:
        np.ndarray: ``where``, every patient placed.
    """
    K = len(ratios)
    active = ratios > 0
    target_c = ratios[:, None] * pos.sum(0)[None, :]  # (K, C)
    target_w = ratios * w.sum()
    have_c = np.stack([pos[where == k].sum(0) for k in range(K)])
    have_w = np.array([w[where == k].sum() for k in range(K)])

    def best(c):
        gap_c = target_c[:, c] - have_c[:, c] if c is not None else \
            np.zeros(K)
        key = [(-gap_c[k], -(target_w[k] - have_w[k]), k)
               for k in np.flatnonzero(active)]
        return min(key)[2]

    rest = [(c, i) for c in np.argsort(pos.sum(0), kind='stable')
            for i in np.flatnonzero(pos[:, c])] + [
                (None, i) for i in np.flatnonzero(~pos.any(1))]
    for c, i in rest:
        if where[i] < 0:
            k = where[i] = best(c)
            have_c[k] += pos[i]
            have_w[k] += w[i]
    return where


def patient_folds(patient_ids: Sequence[str],
                  num_folds: int,
                  labels=None,
                  weights: Optional[Sequence[float]] = None,
                  seed: int = 0) -> Dict[str, int]:
    """Assign every patient to one of ``num_folds`` cross-validation folds
    of equal target weight, stratified by ``labels`` when given
    (:func:`stratified_patient_split`, else :func:`patient_split`).

    Returns:
        dict: ``{patient_id: fold index in 0..num_folds-1}``.
    """
    if int(num_folds) < 2:
        raise ValueError(f'num_folds={num_folds}: cross-validation needs '
                         'at least 2 folds')
    names = [str(k) for k in range(int(num_folds))]
    ratios = [1.0] * len(names)
    if labels is None:
        assign = patient_split(patient_ids, weights, ratios, seed, names)
    else:
        assign = stratified_patient_split(patient_ids, labels, weights,
                                          ratios, seed, names)
    return {p: int(k) for p, k in assign.items()}


def assign_splits(samples: Sequence[dict], num_classes: int,
                  ratios: Sequence[float] = DEFAULT_RATIOS,
                  seed: int = 0,
                  stratify: bool = True,
                  num_folds: Optional[int] = None,
                  fold: int = 0) -> Dict[str, str]:
    """Train / val / test of every patient of ``samples`` (data-list dicts
    with ``patient_id`` and ``gt_label`` class indices).

    Args:
        samples (Sequence[dict]): The images.
        num_classes (int): C.
        ratios (Sequence[float]): (train, val, test) shares.
        seed (int): Split seed.
        stratify (bool): :func:`stratified_patient_split` if True, else
            :func:`patient_split`.
        num_folds (int, optional): Cross-validation: test as by ``ratios``,
            the other patients in ``num_folds`` folds; val = fold ``fold``.
        fold (int): The validation fold.

    Returns:
        dict: ``{patient_id: 'train' | 'val' | 'test'}``.
    """
    pids = [d['patient_id'] for d in samples]
    labels = None
    if stratify:
        labels = np.zeros((len(samples), num_classes))
        for row, d in zip(labels, samples):
            row[list(d['gt_label'])] = 1

    def split(ids, y, r, names):
        if y is None:
            return patient_split(ids, ratios=r, seed=seed, names=names)
        return stratified_patient_split(ids, y, ratios=r, seed=seed,
                                        names=names)

    if num_folds is None:
        return split(pids, labels, ratios, SPLITS)
    if not 0 <= int(fold) < int(num_folds):
        raise ValueError(f'fold={fold} is not one of 0..{num_folds - 1} '
                         f'(num_folds={num_folds})')
    r = np.asarray(ratios, dtype=np.float64)
    assign = split(pids, labels, (r[0] + r[1], r[2]), ('trainval', 'test'))
    keep = [i for i, p in enumerate(pids) if assign[str(p)] == 'trainval']
    folds = patient_folds([pids[i] for i in keep], num_folds,
                          None if labels is None else labels[keep],
                          seed=seed)
    for p, k in folds.items():
        assign[p] = 'val' if k == int(fold) else 'train'
    return assign


def classes_without_positives(dataset) -> List[str]:
    """Names of the classes with no positive sample in ``dataset`` (an
    MMPretrain multi-label dataset; masked labels are not positives)."""
    meta = getattr(dataset, 'metainfo', None) or {}
    classes = list(meta.get('classes') or [])
    if not classes or not hasattr(dataset, 'get_cat_ids'):
        return []  # e.g. a ConcatDataset or a plain torch dataset
    seen = np.zeros(len(classes), dtype=bool)
    for i in range(len(dataset)):
        for c in dataset.get_cat_ids(i):
            if 0 <= int(c) < len(classes):
                seen[int(c)] = True
    return [c for c, s in zip(classes, seen) if not s]


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

