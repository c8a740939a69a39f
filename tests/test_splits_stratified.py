"""Patient-level splits that can select a model (issue 22 item 4).

A small patient-grouped multi-label table gets a validation split with
positives of every class that has enough patients (stratified split), a
warning naming the classes otherwise, and k-fold cross-validation.
"""
import csv
import logging
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.logging import MMLogger

from ldr_mm.datasets import (MultiLabelCSVDataset, assign_splits,
                             patient_folds,
                             patient_split, stratified_patient_split)
from ldr_mm.engine.hooks.class_check_hook import ClassConsistencyHook

CLASSES = ['A', 'B', 'C', 'D', 'E']
#: patients with each class in the 30-image table below (A common, E rare)
PATIENTS_WITH = {'A': 8, 'B': 6, 'C': 4, 'D': 3, 'E': 2}


def small_table(seed=0):
    """30 images of 15 patients (2 each), 5 long-tailed classes.

    Returns (rows, labels): rows = (img_path, patient, values) with a -1
    (uncertain) here and there; labels = the (30, 5) positives.
    """
    rng = np.random.default_rng(seed)
    pat = np.zeros((15, 5), dtype=int)
    for c, name in enumerate(CLASSES):
        pat[rng.choice(15, PATIENTS_WITH[name], replace=False), c] = 1
    rows, labels = [], []
    for p in range(15):
        for k in range(2):
            vals = pat[p].copy()
            if k == 1 and vals.sum() > 1:  # the second image: one finding
                vals[np.flatnonzero(vals)[0]] = 0
            vals_out = [int(v) for v in vals]
            if (p + k) % 7 == 0:  # an uncertain negative
                zero = np.flatnonzero(vals == 0)
                if zero.size:
                    vals_out[zero[0]] = -1
            rows.append((f'img/p{p}_{k}.png', f'P{p:02d}', vals_out))
            labels.append(vals)
    return rows, np.array(labels)


def write_table(tmp_path, rows):
    (tmp_path / 'img').mkdir(exist_ok=True)
    with open(tmp_path / 'table.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['img_path', 'patient'] + CLASSES)
        for path, pid, vals in rows:
            (tmp_path / path).write_bytes(b'x')
            w.writerow([path, pid] + vals)
    return dict(data_root=str(tmp_path), ann_file='table.csv',
                patient_column='patient', classes=CLASSES,
                uncertain='ignore')


def positives(ds):
    seen = set()
    for i in range(len(ds)):
        seen.update(ds.metainfo['classes'][c] for c in ds.get_cat_ids(i))
    return seen


def test_every_split_has_positives_of_every_class_with_3_patients():
    for seed in range(50):
        rows, labels = small_table(seed)
        pids = [r[1] for r in rows]
        assign = stratified_patient_split(pids, labels, seed=seed)
        for split in ('train', 'val', 'test'):
            has = labels[[assign[p] == split for p in pids]].sum(0) > 0
            assert all(has[CLASSES.index(c)]
                       for c, n in PATIENTS_WITH.items() if n >= 3), (
                           seed, split, has)


def test_coverage_on_random_small_tables():
    """Random small tables (8-30 patients, 3-7 classes of 5-50 %
    prevalence): no class with 3+ patients misses a split."""
    checked = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        P, C = int(rng.integers(8, 30)), int(rng.integers(3, 8))
        pos = rng.random((P, C)) < rng.uniform(0.05, 0.5, C)
        pids = [f'p{i}' for i in range(P) for _ in range(2)]
        assign = stratified_patient_split(pids, np.repeat(pos, 2, 0),
                                          seed=seed)
        split = np.array([assign[f'p{i}'] for i in range(P)])
        for c in np.flatnonzero(pos.sum(0) >= 3):
            checked += 1
            for name in ('train', 'val', 'test'):
                assert pos[split == name, c].any(), (seed, c, name)
    assert checked > 500


@pytest.mark.parametrize('seed', [0, 1])
def test_val_has_positives_of_every_class_with_3_patients(tmp_path, seed):
    rows, labels = small_table(seed)
    kw = write_table(tmp_path, rows)
    enough = {c for c, n in PATIENTS_WITH.items() if n >= 3}
    got = {}
    for split in ('train', 'val', 'test'):
        ds = MultiLabelCSVDataset(split=split, split_seed=seed, **kw)
        got[split] = ds
        assert enough <= positives(ds), (split, positives(ds))
    pids = {s: {ds.get_data_info(i)['patient_id'] for i in range(len(ds))}
            for s, ds in got.items()}
    assert not (pids['train'] & pids['val'] or pids['train'] & pids['test']
                or pids['val'] & pids['test'])
    assert sum(len(ds) for ds in got.values()) == 30
    assert len(got['train']) > max(len(got['val']), len(got['test']))


def test_the_unstratified_split_misses_classes_in_val():
    """Why the stratified split is the default: the image-share split
    leaves val without a class that has 3+ patients for most seeds."""
    misses = 0
    for seed in range(10):
        rows, labels = small_table(seed)
        pids = [r[1] for r in rows]
        assign = patient_split(pids, seed=seed)
        val = labels[[assign[p] == 'val' for p in pids]]
        has = {CLASSES[c] for c in np.flatnonzero(val.sum(0))}
        misses += not {c for c, n in PATIENTS_WITH.items() if n >= 3} <= has
    assert misses >= 5


def test_stratified_split_is_seeded_order_free_and_follows_ratios():
    rng = np.random.default_rng(1)
    pids = [f'P{i // 3}' for i in range(3000)]
    y = (rng.random((3000, 6)) < [[0.4, 0.2, 0.1, 0.05, 0.02, 0.01]])
    a = stratified_patient_split(pids, y, seed=3)
    perm = rng.permutation(3000)
    b = stratified_patient_split([pids[i] for i in perm], y[perm], seed=3)
    assert a == b
    assert a != stratified_patient_split(pids, y, seed=4)
    split = np.array([a[p] for p in pids])
    for name, r in zip(('train', 'val', 'test'), (0.7, 0.1, 0.2)):
        assert abs((split == name).mean() - r) < 0.02
        # each class's positives follow the ratios too
        share = y[split == name].sum(0) / y.sum(0)
        assert np.all(np.abs(share - r) < 0.05), (name, share)


def test_unstratified_split_is_the_old_one(tmp_path):
    """split_stratify=False reproduces patient_split (the split of every
    config before the stratified default) image for image."""
    rows, _ = small_table(0)
    kw = write_table(tmp_path, rows)
    assign = patient_split([r[1] for r in rows], seed=0)
    for split in ('train', 'val', 'test'):
        ds = MultiLabelCSVDataset(split=split, split_stratify=False, **kw)
        want = sorted(r[0] for r in rows if assign[r[1]] == split)
        got = sorted(ds.get_data_info(i)['img_path'][len(str(tmp_path)) + 1:]
                     for i in range(len(ds)))
        assert got == want


def test_k_fold_cross_validation(tmp_path):
    rows, _ = small_table(2)
    kw = write_table(tmp_path, rows)

    def patients(ds):
        return {ds.get_data_info(i)['patient_id'] for i in range(len(ds))}

    tests, vals = set(), []
    pids = [r[1] for r in rows]
    samples = [dict(patient_id=p, gt_label=[c for c, v in enumerate(vals)
                                            if v == 1])
               for _, p, vals in rows]
    for fold in range(3):
        assign = assign_splits(samples, 5, num_folds=3, fold=fold)
        sets = {s: {p for p in pids if assign[p] == s}
                for s in ('train', 'val', 'test')}
        assert not (sets['train'] & sets['val'])
        assert not ((sets['train'] | sets['val']) & sets['test'])
        assert len(sets['train'] | sets['val'] | sets['test']) == 15
        tests.add(frozenset(sets['test']))
        vals.append(sets['val'])
    assert len(tests) == 1  # one held-out test split for every fold
    # every train/val patient is in exactly one validation fold
    assert sum(len(v) for v in vals) == len(set().union(*vals)) == \
        15 - len(next(iter(tests)))
    # the dataset takes the same options
    ds = MultiLabelCSVDataset(split='val', num_folds=3, fold=1, **kw)
    assert patients(ds) == vals[1]
    with pytest.raises(ValueError, match=r'fold=3 is not one of 0..2'):
        MultiLabelCSVDataset(split='val', num_folds=3, fold=3, **kw)
    folds = patient_folds([r[1] for r in rows], 5)
    assert sorted(set(folds.values())) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match='at least 2 folds'):
        patient_folds(['a', 'b'], 1)


class _Capture(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_hook(train, val):
    logger = MMLogger.get_instance('test_splits_stratified_hook')
    cap = _Capture()
    logger.addHandler(cap)
    runner = SimpleNamespace(
        model=SimpleNamespace(), logger=logger, cfg={},
        _test_dataloader=None, train_dataloader=SimpleNamespace(dataset=train, batch_size=1),
        val_loop=SimpleNamespace(dataloader=SimpleNamespace(
            dataset=val, batch_size=1)))
    try:
        ClassConsistencyHook().before_train(runner)
    finally:
        logger.removeHandler(cap)
    return cap.messages


def test_warning_names_the_classes_without_positives_in_val(tmp_path):
    rows, _ = small_table(0)
    kw = write_table(tmp_path, rows)
    train = MultiLabelCSVDataset(split='train', **kw)
    # E has 2 patients: train and val get one each, test none; a test
    # split used as validation shows the warning
    val = MultiLabelCSVDataset(split='val', **kw)
    test = MultiLabelCSVDataset(split='test', **kw)
    assert run_hook(train, val) == []
    missing = sorted(set(CLASSES) - positives(test))
    assert missing == ['E']
    msgs = run_hook(train, test)
    assert len(msgs) == 1 and "['E']" in msgs[0] and 'save_best' in msgs[0]
    assert 'the other 4 of 5 classes' in msgs[0]


def test_axspa_split_method_stratified(tmp_path):
    """The AxSpA slice table opts in with split_method='stratified' (its
    default stays the unstratified split of the paper's experiments)."""
    from ldr_mm.datasets.axspa import axspa_split, read_axspa_annotations
    from medical_helpers import axspa_rows, write_axspa_csv
    ann = read_axspa_annotations(write_axspa_csv(
        str(tmp_path / 'a.csv'), axspa_rows(12, 3)))
    got = axspa_split(ann, 'stratified', seed=1)
    assign = stratified_patient_split(ann.patient_ids, ann.labels, seed=1)
    assert list(got) == [assign[p] for p in ann.patient_ids]
    old = axspa_split(ann, 'patient', seed=1)
    assert list(old) == [patient_split(ann.patient_ids, seed=1)[p]
                         for p in ann.patient_ids]
    with pytest.raises(ValueError, match="'stratified'"):
        axspa_split(ann, 'labels')
