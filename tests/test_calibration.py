"""Tail calibration of the positive Gaussians (Distribution Calibration)."""
import os.path as osp

import pytest
import torch

from ldr_mm.reconstruction import (GaussianAccumulator, GaussianStatistics,
                                   calibrate_statistics, check_calibration)
from stage2_helpers import (build_loop, build_runner, get_hook, stage2_cfg,
                            stage2_root)

__all__ = ['stage2_root']

# C=3, D=2. Positive groups: class 0 is the tail (n=3), classes 1 and 2 are
# well populated; class 1's positive mean is nearest to class 0's (distance
# 1 vs 3). Negative groups are arbitrary and must never change.
POS_MEAN = [[0., 0.], [1., 0.], [0., 3.]]
POS_COV = [[[1., 0.], [0., 1.]], [[2., 1.], [1., 2.]], [[4., 0.], [0., 2.]]]


def tiny_stats(cov_type='full', n_pos=(3, 10, 20)):
    d = torch.float64
    mean = torch.zeros(3, 2, 2, dtype=d)
    mean[:, 0] = torch.tensor([[5., 5.], [6., 5.], [5., 7.]], dtype=d)
    mean[:, 1] = torch.tensor(POS_MEAN, dtype=d)
    cov = torch.zeros(3, 2, 2, 2, dtype=d)
    cov[:, 0] = torch.eye(2, dtype=d) * 9
    cov[:, 1] = torch.tensor(POS_COV, dtype=d)
    if cov_type == 'diag':
        cov = cov.diagonal(dim1=-2, dim2=-1).clone()
    counts = torch.tensor([[50 - n, n] for n in n_pos])
    return GaussianStatistics(
        cov_type, counts=counts, mean=mean, cov=cov,
        shrinkage=torch.zeros(3, 2, dtype=d), ridge=torch.zeros(3, 2,
                                                                 dtype=d),
        valid=counts > 0, regularisation=[], classes=['a', 'b', 'c'],
        extra=dict(round=1))


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def assert_untouched_except_class0_positive(before, after):
    assert torch.equal(after.mean[:, 0], before.mean[:, 0])
    assert torch.equal(after.cov[:, 0], before.cov[:, 0])
    assert torch.equal(after.mean[1:], before.mean[1:])
    assert torch.equal(after.cov[1:], before.cov[1:])
    assert torch.equal(after.counts, before.counts)
    assert torch.equal(after.valid, before.valid)


def test_hand_computed_full_k1_with_alpha_and_mean_shift():
    stats = tiny_stats()
    ref = tiny_stats()
    out, report = calibrate_statistics(stats, k=1, max_n=5, alpha=0.5,
                                       shift_mean=True)
    # cov' = (I + [[2,1],[1,2]]) / 2 = [[1.5,.5],[.5,1.5]]; mean variance
    # 1.5, so + 0.5 * 1.5 = 0.75 on the diagonal. mean' = ([0,0]+[1,0])/2
    assert torch.allclose(out.cov[0, 1], t([[2.25, .5], [.5, 2.25]]))
    assert torch.allclose(out.mean[0, 1], t([.5, 0.]))
    assert_untouched_except_class0_positive(ref, out)
    # the input is not modified
    for key in ('mean', 'cov', 'counts'):
        assert torch.equal(getattr(stats, key), getattr(ref, key))
    assert stats.regularisation == [] and 'calibration' not in stats.extra
    assert [e['class'] for e in report] == ['a']
    assert report[0]['donors'] == ['b'] and report[0]['n'] == 3
    assert report[0]['distances'] == [1.0]
    cal = out.extra['calibration']
    assert cal['k'] == 1 and cal['max_n'] == 5 and cal['min_donor_n'] == 6
    assert out.extra['round'] == 1
    assert [(e['class'], e['label']) for e in out.regularisation] == \
        [('a', 1)]


def test_hand_computed_full_k2_keeps_the_mean():
    out, report = calibrate_statistics(tiny_stats(), k=2, max_n=5)
    # (I + [[2,1],[1,2]] + [[4,0],[0,2]]) / 3
    assert torch.allclose(out.cov[0, 1], t([[7 / 3, 1 / 3], [1 / 3, 5 / 3]]))
    assert torch.equal(out.mean[0, 1], t([0., 0.]))  # shift_mean=False
    assert report[0]['donors'] == ['b', 'c']  # nearest first
    # more donors asked than exist: all of them, same answer
    out5, _ = calibrate_statistics(tiny_stats(), k=5, max_n=5)
    assert torch.equal(out5.cov, out.cov)
    # shift_mean=True: ([0,0] + [1,0] + [0,3]) / 3
    out_m, _ = calibrate_statistics(tiny_stats(), k=2, max_n=5,
                                    shift_mean=True)
    assert torch.allclose(out_m.mean[0, 1], t([1 / 3, 1.]))


def test_hand_computed_diag():
    stats = tiny_stats('diag')
    out, _ = calibrate_statistics(stats, k=2, max_n=5, alpha=0.1)
    # variances ([1,1] + [2,2] + [4,2]) / 3 = [7/3, 5/3], mean 2, + 0.2
    assert torch.allclose(out.cov[0, 1], t([7 / 3 + .2, 5 / 3 + .2]))
    assert_untouched_except_class0_positive(tiny_stats('diag'), out)


def test_no_op_cases():
    ref = tiny_stats()
    # max_n defaults to D=2 and no class has <= 2 positives
    for kw in (dict(), dict(max_n=2)):
        out, report = calibrate_statistics(tiny_stats(), **kw)
        assert report == []
        assert torch.equal(out.cov, ref.cov)
        assert torch.equal(out.mean, ref.mean)
    # a receiver without any donor: untouched, reported
    out, report = calibrate_statistics(tiny_stats(), max_n=5,
                                       min_donor_n=100)
    assert torch.equal(out.cov, ref.cov)
    assert report[0]['donors'] == [] and 'no donor' in report[0]['action']


def test_class_without_known_positives_is_neither_receiver_nor_donor():
    """Class 2's positives are all masked (unknown): n=0, valid False."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, 2, generator=g, dtype=torch.float64)
    y = torch.zeros(40, 3)
    y[:3, 0] = 1  # tail class 0
    y[:30, 1] = 1
    y[:20, 2] = 1
    mask = torch.ones(40, 3)
    mask[:20, 2] = 0
    acc = GaussianAccumulator(3, 2)
    acc.update(x, y, mask)
    stats = acc.compute(classes=['a', 'b', 'c'])
    assert stats.counts[2, 1] == 0 and not stats.valid[2, 1]
    out, report = calibrate_statistics(stats, k=2, max_n=5)
    assert {e['class']: e['donors'] for e in report} == {'a': ['b'],
                                                         'c': []}
    assert 'no positives' in report[1]['action']
    # class 0 averaged with class 1 only: the placeholder of 2 is not used
    assert torch.allclose(out.cov[0, 1], (stats.cov[0, 1] +
                                          stats.cov[1, 1]) / 2)
    assert torch.equal(out.cov[2], stats.cov[2])
    assert torch.equal(out.mean[2], stats.mean[2])


@pytest.mark.parametrize('kw,match', [
    (dict(k=0), 'calibration.k must be an integer >= 1.*calibration=None'),
    (dict(k=1.5), 'calibration.k'),
    (dict(max_n=0), 'calibration.max_n'),
    (dict(min_donor_n=1), 'calibration.min_donor_n must be'),
    (dict(max_n=10, min_donor_n=10), 'min_donor_n=10 <= max_n=10'),
    (dict(min_donor_n=2), 'max_n defaults to D=2'),
    (dict(alpha=-1), 'calibration.alpha'),
    (dict(shift_mean=1), 'calibration.shift_mean'),
])
def test_bad_options_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        calibrate_statistics(tiny_stats(), **kw)


def test_check_calibration():
    assert check_calibration(None) is None
    assert check_calibration(dict(max_n=50)) == dict(
        k=2, max_n=50, min_donor_n=None, alpha=0.0, shift_mean=False)
    with pytest.raises(ValueError, match="Unknown calibration keys \\['n'\\]"):
        check_calibration(dict(n=3))
    with pytest.raises(ValueError, match='must be None or a dict'):
        check_calibration(3)
    with pytest.raises(TypeError, match='GaussianStatistics'):
        calibrate_statistics(dict(mean=0))


def test_em_loop_validates_and_applies_calibration(stage2_root, tmp_path):
    with pytest.raises(ValueError, match='calibration.k'):
        build_loop(build_runner(stage2_cfg(
            stage2_root, str(tmp_path / 'bad'), calibration=dict(k=0))))
    work = str(tmp_path / 'w')
    runner = build_runner(stage2_cfg(stage2_root, work,
                                     calibration=dict(k=2, max_n=8)))
    loop = build_loop(runner)
    assert loop.calibration['k'] == 2 and loop.calibration['max_n'] == 8
    get_hook(runner).before_run(runner)
    runner.model.init_weights()
    loop._estimate(0)
    st = GaussianStatistics.load(osp.join(work, 'reconstruction',
                                          'stats_round1.pth'))
    cal = st.extra['calibration']
    assert cal['max_n'] == 8 and cal['min_donor_n'] == 9
    n_pos = st.counts[:, 1].tolist()
    receivers = [e['class_index'] for e in cal['report'] if e['donors']]
    assert receivers and all(1 <= n_pos[c] <= 8 for c in receivers)
    assert all(n_pos[d] >= 9 for e in cal['report']
               for d in e['donor_indices'])
