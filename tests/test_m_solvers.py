"""M-step solvers (ldr_mm/reconstruction/m_step/) against independent
references: Fisher LDA from numpy on the raw Gaussian samples, L-BFGS against
scikit-learn's LogisticRegression on the same virtual samples."""
import numpy as np
import pytest
import torch

from ldr_mm.reconstruction import GaussianAccumulator, ReverseSampler
from ldr_mm.reconstruction.m_step import (build_m_solver, lbfgs_m_step,
                                          lda_classifier, lda_m_step,
                                          m_solver_config, m_solver_names,
                                          score_std, sgd_m_step)


def check_m_solver(m_solver):
    """The checked config of ``m_solver`` once it builds (the registered
    solver checks its options' values)."""
    build_m_solver(m_solver)
    return m_solver_config(m_solver)


def gaussian_data(C=3, D=4, n=(3000, 600), seed=0):
    """Two labels per class with a shared covariance per class: x (N, C, D),
    labels (N, C); positives first for class c, per the counts ``n``."""
    rng = np.random.default_rng(seed)
    N = sum(n)
    x = np.empty((N, C, D))
    y = np.zeros((N, C), dtype=bool)
    truth = []
    for c in range(C):
        A = rng.normal(size=(D, D))
        cov = A @ A.T / D + 0.5 * np.eye(D)
        mu0, mu1 = rng.normal(size=D), rng.normal(size=D) + 1.0
        lab = np.zeros(N, dtype=bool)
        lab[rng.permutation(N)[:n[1]]] = True
        z = rng.multivariate_normal(np.zeros(D), cov, size=N)
        x[:, c] = np.where(lab[:, None], mu1, mu0) + z
        y[:, c] = lab
        truth.append((mu0, mu1, cov))
    return x, y, truth


def statistics_of(x, y, cov_type='full'):
    N, C, D = x.shape
    acc = GaussianAccumulator(C, D, cov_type=cov_type)
    acc.update(torch.from_numpy(x).float(), torch.from_numpy(y))
    return acc.compute(shrinkage=0.0, ridge=0.0)


def test_lda_equals_the_closed_form_of_the_samples():
    x, y, truth = gaussian_data()
    x = torch.from_numpy(x).float().double().numpy()  # what the acc. sees
    stats = statistics_of(x, y)
    prob = torch.tensor([0.1, 0.3, 0.5], dtype=torch.float64)
    w, b, ok = lda_classifier(stats, prob)
    assert ok.all()
    for c in range(x.shape[1]):
        pos, neg = x[y[:, c], c], x[~y[:, c], c]
        m1, m0 = pos.mean(0), neg.mean(0)
        S = (np.cov(pos, rowvar=False) + np.cov(neg, rowvar=False)) / 2
        w_ref = np.linalg.solve(S, m1 - m0)
        p = float(prob[c])
        b_ref = np.log(p / (1 - p)) - w_ref @ (m1 + m0) / 2
        np.testing.assert_allclose(w[c].numpy(), w_ref, rtol=1e-6)
        np.testing.assert_allclose(float(b[c]), b_ref, rtol=1e-6, atol=1e-8)
        # and near the Bayes classifier of the true Gaussians
        mu0, mu1, cov = truth[c]
        w_true = np.linalg.solve(cov, mu1 - mu0)
        assert np.linalg.norm(w[c].numpy() - w_true) < \
            0.2 * np.linalg.norm(w_true)
    # 'diag' statistics: the same formula with the variances
    dstats = statistics_of(x, y, 'diag')
    wd, bd, _ = lda_classifier(dstats, prob)
    pos, neg = x[y[:, 0], 0], x[~y[:, 0], 0]
    var = (pos.var(0, ddof=1) + neg.var(0, ddof=1)) / 2
    np.testing.assert_allclose(wd[0].numpy(),
                               (pos.mean(0) - neg.mean(0)) / var, rtol=1e-6)


def test_lda_weighted_pooling_is_the_within_class_pooled_covariance():
    """pooling='weighted': classical LDA, from numpy on the raw samples."""
    x, y, _ = gaussian_data(n=(3000, 60), seed=3)
    x = torch.from_numpy(x).float().double().numpy()
    stats = statistics_of(x, y)
    prob = torch.tensor([0.2, 0.4, 0.6], dtype=torch.float64)
    w, b, ok = lda_classifier(stats, prob, pooling='weighted')
    we, _, _ = lda_classifier(stats, prob)  # 'equal'
    assert ok.all()
    for c in range(x.shape[1]):
        pos, neg = x[y[:, c], c], x[~y[:, c], c]
        m1, m0 = pos.mean(0), neg.mean(0)
        S = (len(pos) * np.cov(pos, rowvar=False) +
             len(neg) * np.cov(neg, rowvar=False)) / (len(pos) + len(neg))
        w_ref = np.linalg.solve(S, m1 - m0)
        p = float(prob[c])
        b_ref = np.log(p / (1 - p)) - w_ref @ (m1 + m0) / 2
        np.testing.assert_allclose(w[c].numpy(), w_ref, rtol=1e-6)
        np.testing.assert_allclose(float(b[c]), b_ref, rtol=1e-6, atol=1e-8)
        assert not np.allclose(we[c].numpy(), w_ref, rtol=1e-3)
    # the M-step passes it through; bad values are refused at config time
    weight, bias = torch.randn(3, 4), torch.zeros(3)
    assert lda_m_step(weight, bias, stats, prob, scale='none',
                      pooling='weighted') == []
    torch.testing.assert_close(weight, w.float())
    assert check_m_solver(dict(type='lda', pooling='weighted')) == dict(
        type='lda', pooling='weighted')
    with pytest.raises(ValueError, match="pooling must be one of"):
        check_m_solver(dict(type='lda', pooling='mean'))
    with pytest.raises(ValueError, match="scale must be one of"):
        check_m_solver(dict(type='lda', scale='unit'))
    with pytest.raises(ValueError, match="pooling must be one of"):
        lda_classifier(stats, prob, pooling='mean')


def test_lda_keeps_classes_it_cannot_solve():
    x, y, _ = gaussian_data()
    y[:, 1] = False  # class 1 has no positive
    stats = statistics_of(x, y)
    prob = torch.tensor([0.2, 0.0, 1.0], dtype=torch.float64)
    weight = torch.randn(3, 4)
    bias = torch.randn(3)
    w0, b0 = weight.clone(), bias.clone()
    assert lda_m_step(weight, bias, stats, prob) == [1, 2]
    assert torch.equal(weight[1:], w0[1:]) and torch.equal(bias[1:], b0[1:])
    assert not torch.equal(weight[0], w0[0]) and torch.isfinite(weight).all()


def test_lda_scale_keeps_boundary_and_ranking_at_the_old_norm():
    """scale='head': the closed form rescaled to the replaced head's norm
    (same boundary and ranking); 'none': the raw closed form."""
    x, y, _ = gaussian_data()
    stats = statistics_of(x, y)
    prob = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64)
    w_raw, b_raw, _ = lda_classifier(stats, prob)
    weight = torch.randn(3, 4, dtype=torch.float64)
    bias = torch.randn(3, dtype=torch.float64)
    norm0 = weight.norm(dim=-1).clone()
    raw_w, raw_b = weight.clone(), bias.clone()
    assert lda_m_step(raw_w, raw_b, stats, prob, scale='none') == []
    torch.testing.assert_close(raw_w, w_raw)
    assert lda_m_step(weight, bias, stats, prob) == []  # default 'head'
    torch.testing.assert_close(weight.norm(dim=-1), norm0)
    factor = norm0 / w_raw.norm(dim=-1)
    torch.testing.assert_close(weight, w_raw * factor[:, None])
    torch.testing.assert_close(bias, b_raw * factor)
    xt = torch.as_tensor(x, dtype=torch.float64)
    z_raw = (xt * w_raw).sum(-1) + b_raw
    z = (xt * weight).sum(-1) + bias
    assert torch.equal(z > 0, z_raw > 0)  # the same decisions
    for c in range(3):  # and the same order of the images
        assert torch.equal(torch.argsort(z[:, c]), torch.argsort(z_raw[:, c]))
    with pytest.raises(ValueError,
                       match="scale must be one of \\('head', 'none'\\)"):
        lda_m_step(weight, bias, stats, prob, scale='unit')
    assert check_m_solver(dict(type='lda', scale='none'))['scale'] == 'none'


def test_score_std_is_the_std_of_the_scores_of_the_samples():
    """With unregularised statistics: the std of <w_c, x> over the mixture
    of the class's two Gaussians, by hand from the samples' scores."""
    x, y, _ = gaussian_data()
    x = torch.from_numpy(x).float().double().numpy()
    stats = statistics_of(x, y)
    w = torch.randn(3, 4, dtype=torch.float64)
    got = score_std(w, stats)
    for c in range(3):
        z = x[:, c] @ w[c].numpy()
        z1, z0 = z[y[:, c]], z[~y[:, c]]
        pi1 = len(z1) / len(z)
        pi0 = 1 - pi1
        want = pi0 * z0.var(ddof=1) + pi1 * z1.var(ddof=1) + \
            pi0 * pi1 * (z1.mean() - z0.mean())**2
        np.testing.assert_allclose(float(got[c]), np.sqrt(want), rtol=1e-9)
        # within (n-1)/n of the plain std of all the scores
        np.testing.assert_allclose(float(got[c]), z.std(), rtol=1e-3)
    # diag statistics: the same with the variances only
    dstats = statistics_of(x, y, 'diag')
    wd = torch.zeros(3, 4, dtype=torch.float64)
    wd[:, 0] = 1.0  # one coordinate: diag and full agree
    torch.testing.assert_close(score_std(wd, dstats), score_std(wd, stats))


def test_lda_blend_is_the_standardised_ensemble_with_the_anchor():
    """blend=t: (1 - t) z_anchor / s_anchor + t z_lda / s_lda, by hand on
    the samples; t=1 is the LDA step, t=0 the anchor's ranking; blend < 1
    without an anchor, or outside [0, 1], is refused."""
    x, y, _ = gaussian_data()
    x = torch.from_numpy(x).float().double().numpy()
    stats = statistics_of(x, y)
    prob = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64)
    wa = torch.randn(3, 4, dtype=torch.float64)
    ba = torch.randn(3, dtype=torch.float64)
    w_lda, b_lda, _ = lda_classifier(stats, prob)
    xt = torch.as_tensor(x)
    for t in (0.0, 0.3, 1.0):
        weight, bias = wa.clone(), ba.clone()
        assert lda_m_step(weight, bias, stats, prob, scale='none', blend=t,
                          anchor=(wa, ba)) == []
        z = (xt * weight).sum(-1) + bias
        za = (xt * wa).sum(-1) + ba
        zl = (xt * w_lda).sum(-1) + b_lda
        want = (1 - t) * za / score_std(wa, stats) + \
            t * zl / score_std(w_lda, stats)
        torch.testing.assert_close(z, zl if t == 1.0 else want)
        if t == 0.0:
            for c in range(3):
                assert torch.equal(torch.argsort(z[:, c]),
                                   torch.argsort(za[:, c]))
    with pytest.raises(ValueError, match='needs the anchor head'):
        lda_m_step(wa.clone(), ba.clone(), stats, prob, blend=0.5)
    with pytest.raises(ValueError, match="blend must be a number in"):
        check_m_solver(dict(type='lda', blend=1.5))
    assert check_m_solver(dict(type='lda', blend=0.5))['blend'] == 0.5


def fitted_sampler(seed=0):
    x, y, _ = gaussian_data(seed=seed)
    stats = statistics_of(x, y)
    return ReverseSampler(mode='reverse', alpha=0.9).fit(
        stats, dtype=torch.float64), stats


def test_lbfgs_equals_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    sampler, _ = fitted_sampler()
    C, D, N, l2 = 3, 4, 4000, 1e-3
    weight, bias = torch.zeros(C, D, dtype=torch.float64), torch.zeros(
        C, dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    losses = lbfgs_m_step(weight, bias, sampler, gen, num_samples=N, l2=l2,
                          max_iter=1000, tol=1e-10)
    assert losses[1] < losses[0]
    gen = torch.Generator().manual_seed(5)  # the same virtual samples
    for c in range(C):
        xc, yc = sampler.sample_class(c, N, gen)
        ref = LogisticRegression(C=1 / (N * l2), tol=1e-12, max_iter=10000)
        ref.fit(xc.numpy(), yc.numpy())
        np.testing.assert_allclose(weight[c].numpy(), ref.coef_[0],
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(float(bias[c]), ref.intercept_[0],
                                   rtol=1e-4, atol=1e-5)


def test_sample_class_has_the_law_of_a_column_of_sample():
    sampler, stats = fitted_sampler()
    gen = torch.Generator().manual_seed(0)
    n = 100000
    x, y = sampler.sample_class(2, n, gen)
    assert x.shape == (n, 4) and y.shape == (n,)
    p = float(sampler.prob[2])
    assert abs(float(y.mean()) - p) < 5 * np.sqrt(p * (1 - p) / n)
    for j in (0, 1):
        sel = x[y == j].numpy()
        mu = stats.mean[2, j].numpy()
        cov = stats.cov[2, j].numpy()
        se = np.sqrt(np.diag(cov) / len(sel))
        assert (np.abs(sel.mean(0) - mu) < 5 * se).all()
        np.testing.assert_allclose(np.cov(sel, rowvar=False), cov, atol=0.1)


def test_sgd_m_step_lowers_the_virtual_loss():
    sampler, _ = fitted_sampler()
    # a group-wise linear classifier by hand
    weight = torch.nn.Parameter(torch.zeros(3, 4, dtype=torch.float64))
    bias = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    from mmengine.optim import OptimWrapper
    ow = OptimWrapper(torch.optim.Adam([weight, bias], lr=0.05))

    def loss_fn(logits, y, avg_factor):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y, reduction='sum') / avg_factor

    losses = sgd_m_step(lambda x: (x * weight).sum(-1) + bias,
                        [weight, bias], sampler, ow, loss_fn, 200, 64,
                        torch.Generator().manual_seed(0))
    assert len(losses) == 200 and np.mean(losses[-20:]) < losses[0] - 0.2
    assert weight.grad is None or not weight.grad.abs().sum()


def test_check_m_solver():
    assert check_m_solver('lda') == dict(type='lda')
    assert check_m_solver(dict(type='lbfgs', l2=0.1)) == dict(type='lbfgs',
                                                              l2=0.1)
    assert {'sgd', 'lbfgs', 'lda'} <= set(m_solver_names())
    with pytest.raises(ValueError, match="m_solver must be one of "
                       "\\[.*'lbfgs', 'lda', 'sgd'\\]"):
        check_m_solver('newton')
    with pytest.raises(ValueError, match="'lbfgs' has no options"):
        check_m_solver(dict(type='lbfgs', lr=1))
