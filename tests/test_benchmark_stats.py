"""tools/benchmark/stats.py: seed statistics and the paired bootstrap, on
cases whose answers are worked out by hand."""
import math

import numpy as np
import pytest

from benchmark.stats import (bootstrap_indices, mean_sd,
                                    paired_bootstrap, percentile_interval,
                                    resampled_metrics)


def test_mean_sd():
    assert mean_sd([0.5, 0.7]) == pytest.approx((0.6, math.sqrt(0.02), 2))
    mean, sd, n = mean_sd([0.25, None, float('nan')])
    assert (mean, n) == (0.25, 1) and math.isnan(sd)
    assert math.isnan(mean_sd([])[0])


def test_percentile_interval():
    assert percentile_interval(np.arange(101.0), 0.90) == \
        pytest.approx((5.0, 95.0))
    assert percentile_interval([np.nan, 1.0, 1.0], 0.95) == (1.0, 1.0)
    with pytest.raises(ValueError, match='confidence'):
        percentile_interval([1.0], 95)


def test_indices_reproducible_with_replacement():
    a = bootstrap_indices(5, 1000, seed=3)
    assert a.shape == (1000, 5) and a.min() == 0 and a.max() == 4
    assert (a == bootstrap_indices(5, 1000, seed=3)).all()
    # with replacement: some row repeats an image
    assert any(len(set(r)) < 5 for r in a)


# One class, three images: a positive (0) and two negatives (1, 2).
# reference scores 0.2 / 0.5 / 0.1: the positive beats image 2 only; the
# config ranks the positive first. With k_i copies of image i in a resample
# (k0 >= 1 and k1 + k2 >= 1, else the class is missing):
#   AUC: config 1, reference k2 / (k1 + k2) -> diff k1 / (k1 + k2)
#   AP:  config 1, reference k0 / (k0 + k1) -> diff k1 / (k0 + k1)
# The 27 equally likely index triples give 18 valid resamples:
#   (k0, k1, k2)  ways  AUC diff  AP diff
#   (1, 2, 0)     3     1         2/3
#   (1, 0, 2)     3     0         0
#   (1, 1, 1)     6     1/2       1/2
#   (2, 1, 0)     3     1         1/3
#   (2, 0, 1)     3     0         0
TARGETS = np.array([[1], [0], [0]])
REF = np.array([[0.2], [0.5], [0.1]])
BETTER = np.array([[0.9], [0.5], [0.1]])


def _all_triples():
    grid = np.array(np.meshgrid(*[range(3)] * 3, indexing='ij'))
    return np.vstack([np.arange(3)[None], grid.reshape(3, -1).T])


def test_resampled_metrics_exact_on_every_triple():
    idx = _all_triples()  # the test set itself, then all 27 resamples
    ref = resampled_metrics(REF, TARGETS, idx, ['c'])
    assert ref['auc/mean'][0] == 0.5 and ref['mAP/mean'][0] == 0.5
    valid = np.isfinite(ref['auc/mean'][1:])
    assert valid.sum() == 18
    out = paired_bootstrap(
        [resampled_metrics(BETTER, TARGETS, idx, ['c'])], [ref],
        ['auc/mean', 'mAP/mean'], confidence=0.5)
    auc, ap = out['auc/mean'], out['mAP/mean']
    assert auc['diff'] == 0.5 and ap['diff'] == 0.5  # on the test set
    assert auc['resamples'] == ap['resamples'] == 18
    assert auc['p_better'] == pytest.approx(12 / 18)
    assert ap['p_better'] == pytest.approx(12 / 18)
    # 50% interval = quartiles of the 18 differences (numpy's linear rule):
    # AUC sorted: 0 x6, 1/2 x6, 1 x6 -> positions 4.25 and 12.75
    assert (auc['low'], auc['high']) == pytest.approx((0.0, 1.0))
    # AP sorted: 0 x6, 1/3 x3, 1/2 x6, 2/3 x3 -> 0 and 1/2
    assert (ap['low'], ap['high']) == pytest.approx((0.0, 0.5))


def test_random_resamples_match_the_exact_distribution():
    idx = np.vstack([np.arange(3)[None],
                     bootstrap_indices(3, 8000, seed=0)])
    out = paired_bootstrap(
        [resampled_metrics(BETTER, TARGETS, idx, ['c'])],
        [resampled_metrics(REF, TARGETS, idx, ['c'])], ['auc/mean'], 0.95)
    d = out['auc/mean']
    assert d['resamples'] / 8000 == pytest.approx(18 / 27, abs=0.02)
    assert d['p_better'] == pytest.approx(2 / 3, abs=0.02)
    assert (d['low'], d['high']) == (0.0, 1.0)


def test_pairing_cancels_the_shared_image_noise():
    """A monotone rescaling of the scores changes no ranking: paired, every
    resampled difference is 0, although each config's own metric varies a
    lot from resample to resample."""
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 3)) < 0.3).astype(int)
    scores = rng.random((60, 3)) + targets * 0.3
    idx = np.vstack([np.arange(60)[None], bootstrap_indices(60, 200)])
    ref = resampled_metrics(scores, targets, idx, ['a', 'b', 'c'])
    same = resampled_metrics(2 * scores + 1, targets, idx, ['a', 'b', 'c'])
    assert np.nanstd(ref['auc/mean']) > 0.02
    out = paired_bootstrap([same], [ref], ['auc/mean', 'mAP/mean'], 0.95)
    for d in out.values():
        assert d['diff'] == 0 and (d['low'], d['high']) == (0.0, 0.0)


def test_head_tail_groups_and_seed_means():
    """Group means per resample, and the difference of seed means."""
    targets = np.array([[1, 0], [0, 1], [0, 0], [1, 1]])
    perfect = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.2], [0.8, 0.7]])
    # class b reversed: AUC 0 (positives 0.1, 0.2 below negatives 0.8, 0.9)
    bad_b = np.array([[0.9, 0.9], [0.1, 0.1], [0.2, 0.8], [0.8, 0.2]])
    idx = np.arange(4)[None]
    m = resampled_metrics(bad_b, targets, idx, ['a', 'b'], head=['a'],
                          tail=['b'])
    assert (m['auc/head'][0], m['auc/tail'][0], m['auc/mean'][0]) == \
        (1.0, 0.0, 0.5)
    # two seeds of a config (tail AUC 1 and 0) against one reference seed
    # (tail AUC 1): seed mean 0.5, difference -0.5
    out = paired_bootstrap(
        [resampled_metrics(perfect, targets, idx, ['a', 'b'], ['a'], ['b']),
         m], [resampled_metrics(perfect, targets, idx, ['a', 'b'], ['a'],
                                ['b'])], ['auc/tail', 'auc/head'], 0.9)
    assert out['auc/tail']['diff'] == -0.5 and out['auc/head']['diff'] == 0


def test_group_metrics_match_group_summary_and_name_bad_groups():
    from benchmark.stats import group_metrics
    from ldr_mm.evaluation.metrics.base import group_summary
    values = np.array([[0.5, np.nan, 0.9], [np.nan, np.nan, 0.1]])
    out = group_metrics(values, 'auc', ['a', 'b', 'c'], ['a', 'b'], ['c'])
    assert out['auc/mean'][0] == pytest.approx(0.7)
    assert out['auc/head'][0] == 0.5 and math.isnan(out['auc/head'][1])
    ref = group_summary(values[0], ['a', 'b', 'c'], ['a', 'b'], ['c'])
    assert [out[f'auc/{k}'][0] for k in ('mean', 'head', 'tail')] == \
        pytest.approx([ref[k] for k in ('mean', 'head', 'tail')])
    with pytest.raises(ValueError, match=r"tail_classes \['z'\]"):
        group_metrics(values, 'auc', ['a', 'b', 'c'], ['a'], ['z'])


def test_weighted_metrics_equal_the_metrics_of_resampled_rows():
    """The one-sort weighted form equals tools/test.py's functions on the
    explicitly resampled rows (ties included: quantised scores)."""
    from benchmark.stats import resample_counts, weighted_auc_ap
    from ldr_mm.evaluation.functional import (average_precision_per_class,
                                              roc_auc_per_class)
    rng = np.random.default_rng(1)
    targets = (rng.random((40, 4)) < 0.25).astype(int)
    scores = np.round(rng.random((40, 4)) + 0.4 * targets, 1)
    idx = bootstrap_indices(40, 30, seed=2)
    auc, ap = weighted_auc_ap(scores, targets, resample_counts(idx, 40))
    for b, rows in enumerate(idx):
        np.testing.assert_allclose(
            auc[b], roc_auc_per_class(scores[rows], targets[rows]),
            rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            ap[b], average_precision_per_class(scores[rows], targets[rows]),
            rtol=0, atol=1e-12)
