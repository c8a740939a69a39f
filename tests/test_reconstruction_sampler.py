"""ReverseSampler: Eq. 12 by hand, and the drawn samples' moments."""
import warnings

import numpy as np
import pytest
import torch

import stage2_helpers  # noqa: F401
from ldr_mm.reconstruction import (GaussianAccumulator, ReverseSampler,
                                   gaussian_factor, sampling_probability)
from mmpretrain.registry import TASK_UTILS


def test_eq12_by_hand():
    # F = (100, 10, 1), alpha = 0.9: weights 100^-0.9, 10^-0.9, 1, worked
    # out by hand: 0.0158489, 0.1258925, 1 -> sum 1.1417415
    p = sampling_probability(torch.tensor([100, 10, 1]), 'reverse', 0.9)
    np.testing.assert_allclose(p.numpy(), [0.0138814, 0.1102636, 0.8758550],
                               atol=1e-7)
    assert float(p.sum()) == pytest.approx(1.0)
    # alpha = 0.5, F = (30, 3): 1/sqrt(30) : 1/sqrt(3) = 1 : sqrt(10)
    p = sampling_probability(torch.tensor([30, 3]), 'reverse', 0.5)
    np.testing.assert_allclose(p.numpy(), [1 / (1 + 10**0.5),
                                           10**0.5 / (1 + 10**0.5)])
    # uniform = alpha 0; natural = prevalence
    p = sampling_probability(torch.tensor([100, 10, 1]), 'uniform')
    np.testing.assert_allclose(p.numpy(), [1 / 3] * 3)
    np.testing.assert_allclose(
        sampling_probability(torch.tensor([100, 10, 1]), 'reverse',
                             alpha=0.0).numpy(), [1 / 3] * 3)
    p = sampling_probability(torch.tensor([100, 10, 1]), 'natural',
                             num_samples=400)
    np.testing.assert_allclose(p.numpy(), [0.25, 0.025, 0.0025])


def test_class_without_positives_gets_zero_and_a_warning():
    with pytest.warns(UserWarning, match=r"\['b'\] have no positive"):
        p = sampling_probability(torch.tensor([4, 0, 1]), 'reverse', 1.0,
                                 classes=['a', 'b', 'c'])
    np.testing.assert_allclose(p.numpy(), [0.2, 0.0, 0.8])
    with pytest.raises(ValueError, match='mode'):
        sampling_probability(torch.tensor([1]), 'balanced')
    with pytest.raises(ValueError, match='num_samples'):
        sampling_probability(torch.tensor([1]), 'natural')


def fitted_stats(cov_type, seed=0):
    rng = np.random.default_rng(seed)
    N, C, D = 600, 3, 4
    A = rng.normal(size=(C, D, D))
    x = np.einsum('ncd,ced->nce', rng.normal(size=(N, C, D)), A)
    y = (rng.random((N, C)) < [0.4, 0.2, 0.05]).astype(np.int64)
    x = x + 3.0 * y[..., None]
    acc = GaussianAccumulator(C, D, cov_type=cov_type)
    acc.update(torch.from_numpy(x), torch.from_numpy(y))
    return acc.compute()


@pytest.mark.parametrize('cov_type', ['full', 'diag'])
def test_virtual_samples_match_the_estimate(cov_type):
    st = fitted_stats(cov_type)
    sampler = TASK_UTILS.build(dict(type='ReverseSampler', alpha=0.9))
    sampler.fit(st, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    xs, ys = zip(*[sampler.sample(20000, g) for _ in range(10)])
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.shape == (200000, 3, 4) and y.shape == (200000, 3)
    freq = y.mean(0)
    p = sampler.prob
    np.testing.assert_allclose(p.numpy(), sampling_probability(
        st.counts[:, 1]).numpy())
    assert torch.all((freq - p).abs() < 4 * (p * (1 - p) / len(y)).sqrt())
    for c in range(3):
        for j in (0, 1):
            sel = x[y[:, c] == j, c].numpy()
            n = len(sel)
            assert n > 5000
            cov = st.cov[c, j].numpy() if cov_type == 'full' else np.diag(
                st.cov[c, j].numpy())
            sd = np.sqrt(np.diag(cov))
            # mean within 5 standard errors
            np.testing.assert_array_less(
                np.abs(sel.mean(0) - st.mean[c, j].numpy()),
                5 * sd / np.sqrt(n))
            emp = np.cov(sel, rowvar=False)
            # covariance entries within 5 standard errors (Gaussian:
            # var(s_ab) = (S_aa S_bb + S_ab^2) / n)
            se = np.sqrt((np.outer(sd**2, sd**2) + cov**2) / n)
            np.testing.assert_array_less(np.abs(emp - cov), 5 * se)


def test_deterministic_and_leaves_the_global_rng_alone():
    st = fitted_stats('full')
    sampler = ReverseSampler().fit(st)
    state = torch.get_rng_state()
    a = sampler.sample(7, torch.Generator().manual_seed(3))
    b = sampler.sample(7, torch.Generator().manual_seed(3))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].dtype == torch.float32


def test_labels_without_samples_are_never_drawn():
    acc = GaussianAccumulator(2, 3)
    x = torch.randn(10, 2, 3)
    y = torch.zeros(10, 2)
    y[:, 1] = 1  # class 1: every image positive, no negatives
    acc.update(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        st = acc.compute()
        sampler = ReverseSampler().fit(st)  # class 0 has no positives
    assert sampler.prob.tolist() == [0.0, 1.0]
    _, lab = sampler.sample(1000, torch.Generator().manual_seed(0))
    assert lab[:, 0].sum() == 0 and lab[:, 1].sum() == 1000


def test_factor_falls_back_to_eigh_for_singular_matrices():
    v = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    singular = v.t() @ v  # rank 1, Cholesky fails
    good = torch.eye(3, dtype=torch.float64) * 2
    cov = torch.stack([singular, good])
    L = gaussian_factor(cov, 'full')
    torch.testing.assert_close(L @ L.transpose(-1, -2), cov)
    torch.testing.assert_close(L[1], torch.linalg.cholesky(good))
    sd = gaussian_factor(torch.tensor([4.0, 0.0]), 'diag')
    assert sd.tolist() == [2.0, 0.0]


def test_sample_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match='before fit'):
        ReverseSampler().sample(2)
    with pytest.raises(ValueError, match='mode'):
        ReverseSampler(mode='nope')
