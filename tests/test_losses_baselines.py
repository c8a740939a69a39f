"""The long-tail multi-label baseline losses against their papers' formulas.

Every reference below is written independently of ldr_mm's vectorised code:
plain Python loops over samples / classes in float64 with ``math``.
"""
import math

import numpy as np
import pytest
import torch

import ldr_mm  # noqa: F401
from ldr_mm.models.losses import (DistributionBalancedLoss,
                                  RobustAsymmetricLoss, TwoWayMultiLabelLoss)
from mmpretrain.registry import MODELS


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def softplus(v):
    return math.log1p(math.exp(v))


def batch(seed=0, n=6, c=5, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    y = (torch.rand(n, c, generator=g) < 0.4).double()
    y[0] = 0  # a sample without positives
    y[1] = 1  # a sample without negatives
    y[2:, -2] = 0  # a class whose only positive is the all-positive row
    return x, y


# ----------------------------------------------------------------- two-way
def twoway_reference(x, y, tp, tn):
    """Kobayashi (CVPR 2023): sample-wise + class-wise softplus terms."""
    x, y = x.tolist(), y.tolist()
    N, C = len(x), len(x[0])

    def term(vals, labels):
        P = [v for v, t in zip(vals, labels) if t == 1]
        Nn = [v for v, t in zip(vals, labels) if t == 0]
        if not P:
            return None
        if not Nn:
            return 0.0
        neg = tn * math.log(sum(math.exp(v / tn) for v in Nn))
        pos = tp * math.log(sum(math.exp(-v / tp) for v in P))
        return softplus(neg + pos)

    rows = [term(x[i], y[i]) for i in range(N)]
    cols = [term([x[i][c] for i in range(N)], [y[i][c] for i in range(N)])
            for c in range(C)]
    rows = [r for r in rows if r is not None]
    cols = [c for c in cols if c is not None]
    return sum(rows) / len(rows) + sum(cols) / len(cols), rows, cols


@pytest.mark.parametrize('tp,tn', [(4.0, 1.0), (1.0, 1.0), (0.5, 2.0)])
def test_twoway_matches_formula(tp, tn):
    x, y = batch()
    loss = TwoWayMultiLabelLoss(tp=tp, tn=tn)(x, y, avg_factor=123.)
    ref, rows, cols = twoway_reference(x, y, tp, tn)
    assert loss.item() == pytest.approx(ref, rel=1e-10)
    s = TwoWayMultiLabelLoss(tp=tp, tn=tn, reduction='sum')(x, y)
    assert s.item() == pytest.approx(sum(rows) + sum(cols), rel=1e-10)


def test_twoway_unit_temperatures_are_pairwise_softplus():
    """Tp = Tn = 1: log(1 + sum_p sum_n exp(x_n - x_p)) per sample."""
    x, y = batch(seed=3)
    xs, ys = x.tolist(), y.tolist()
    terms = []
    for i in range(len(xs)):
        P = [v for v, t in zip(xs[i], ys[i]) if t]
        Nn = [v for v, t in zip(xs[i], ys[i]) if not t]
        if P:
            terms.append(math.log1p(sum(math.exp(n - p) for p in P
                                        for n in Nn)))
    sample_part = sum(terms) / len(terms)
    _, _, cols = twoway_reference(x, y, 1.0, 1.0)
    loss = TwoWayMultiLabelLoss(tp=1.0, tn=1.0)(x, y)
    assert loss.item() == pytest.approx(sample_part + sum(cols) / len(cols),
                                        rel=1e-10)


def test_twoway_gradients_and_edge_cases():
    x, y = batch()
    x = (x * 20).requires_grad_()  # large logits: log-sum-exp must not blow
    loss = TwoWayMultiLabelLoss()(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # no positive at all: zero loss, but a connected graph
    z = torch.randn(3, 4, requires_grad=True)
    loss = TwoWayMultiLabelLoss()(z, torch.zeros(3, 4))
    loss.backward()
    assert loss.item() == 0 and torch.equal(z.grad, torch.zeros(3, 4))
    with pytest.raises(ValueError, match='element-wise'):
        TwoWayMultiLabelLoss(reduction='none')
    with pytest.raises(ValueError, match='multi-hot'):
        TwoWayMultiLabelLoss()(z, torch.tensor([0, 1, 2]))


# --------------------------------------------------------------------- RAL
def ral_reference(x, y, gp, gn, m, lamb, e1, e2, e3):
    total = []
    for xr, yr in zip(x.tolist(), y.tolist()):
        row = []
        for v, t in zip(xr, yr):
            p = sigmoid(v)
            if t == 1:
                lp = -((1 - p)**gp) * (math.log(p) + e1 * (1 - p) +
                                       e2 / 2 * (1 - p)**2)
                row.append(lp)
            else:
                pm = max(p - m, 0.0)
                q = 1 - pm
                ln = -(pm**gn) * (lamb - p) * p * p * (lamb - q) * (
                    math.log(q) + e3 * q)
                row.append(ln)
        total.append(row)
    return np.array(total)


@pytest.mark.parametrize('params', [
    dict(),
    dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.0, lamb=2.0, epsilon_pos=0.5,
         epsilon_pos_pow=1.0, epsilon_neg=0.3),
])
def test_ral_matches_formula(params):
    kw = dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05, lamb=1.5,
              epsilon_pos=1.0, epsilon_pos_pow=-2.5, epsilon_neg=0.0)
    kw.update(params)
    x, y = batch(seed=1)
    ref = ral_reference(x, y, kw['gamma_pos'], kw['gamma_neg'], kw['clip'],
                        kw['lamb'], kw['epsilon_pos'], kw['epsilon_pos_pow'],
                        kw['epsilon_neg'])
    loss_fn = RobustAsymmetricLoss(**kw)
    none = loss_fn(x, y, reduction_override='none')
    np.testing.assert_allclose(none.numpy(), ref, rtol=1e-10, atol=1e-14)
    assert loss_fn(x, y, avg_factor=6).item() == pytest.approx(
        ref.sum() / 6, rel=1e-10)
    assert loss_fn(x, y).item() == pytest.approx(ref.mean(), rel=1e-10)
    w = torch.arange(1., 7.)
    assert loss_fn(x, y, weight=w, avg_factor=3).item() == pytest.approx(
        (ref * w.numpy()[:, None]).sum() / 3, rel=1e-10)


def test_ral_gradients_finite_at_extremes():
    x = torch.tensor([[-40., -5., 0., 5., 40.]] * 2, requires_grad=True)
    y = torch.tensor([[1., 1., 1., 1., 1.], [0., 0., 0., 0., 0.]])
    loss = RobustAsymmetricLoss()(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # confident mistakes are pushed the right way
    assert x.grad[0, 0] < 0 and x.grad[1, 4] > 0


def test_ral_bad_arguments():
    with pytest.raises(ValueError, match='lamb'):
        RobustAsymmetricLoss(lamb=0.5)
    with pytest.raises(ValueError, match='clip'):
        RobustAsymmetricLoss(clip=1.0)


# ---------------------------------------------------------------------- DB
def db_reference(x, y, counts, N, gamma, lam, kappa, alpha, beta, mu):
    """Wu et al. (ECCV 2020), Eqs. 4-6 (re-balanced weight), the
    negative-tolerant regularisation and the focal form (Eq. 10)."""
    C = len(counts)
    out = []
    for xr, yr in zip(x.tolist(), y.tolist()):
        PC = [1.0 / C / counts[c] for c in range(C)]
        PI = sum(1.0 / C / counts[c] for c in range(C) if yr[c] == 1)
        row = []
        for c in range(C):
            if PI > 0:
                r = PC[c] / PI
                rhat = alpha + sigmoid(beta * (r - mu))
            else:  # never drawn by class-aware sampling: r -> inf
                rhat = alpha + 1.0
            p = counts[c] / N
            nu = kappa * math.log(1.0 / p - 1.0)
            z = xr[c] - nu
            if yr[c] == 1:
                qv = sigmoid(z)
                row.append(-rhat * (1 - qv)**gamma * math.log(qv))
            else:
                qv = sigmoid(lam * z)
                row.append(-rhat / lam * qv**gamma * math.log(1 - qv))
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize('params', [
    dict(),
    dict(gamma=0.0, neg_scale=1.0, init_bias=0.0),
    dict(gamma=1.0, neg_scale=5.0, init_bias=0.1, map_alpha=0.2,
         map_beta=4.0, map_mu=0.5),
])
def test_db_matches_formula(params):
    kw = dict(gamma=2.0, neg_scale=2.0, init_bias=0.05, map_alpha=0.1,
              map_beta=10.0, map_mu=0.2)
    kw.update(params)
    counts, N = [40, 17, 9, 3, 1], 60
    x, y = batch(seed=2)
    ref = db_reference(x, y, counts, N, kw['gamma'], kw['neg_scale'],
                       kw['init_bias'], kw['map_alpha'], kw['map_beta'],
                       kw['map_mu'])
    loss_fn = DistributionBalancedLoss(class_counts=counts, num_samples=N,
                                       **kw)
    none = loss_fn(x, y, reduction_override='none')
    np.testing.assert_allclose(none.numpy(), ref, rtol=1e-10, atol=1e-14)
    assert loss_fn(x, y, avg_factor=6).item() == pytest.approx(
        ref.sum() / 6, rel=1e-10)


def test_db_without_regularisation_is_weighted_bce():
    """gamma = 0, lambda = 1, kappa = 0: r_hat-weighted BCE."""
    counts, N = [5, 2, 8], 10
    x, y = batch(seed=4, c=3)
    loss = DistributionBalancedLoss(counts, N, gamma=0, neg_scale=1,
                                    init_bias=0)(x, y,
                                                 reduction_override='none')
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        x, y, reduction='none')
    ratio = (loss / bce).numpy()
    # one weight per sample and class, from the sample's positives only
    inv = 1.0 / np.array(counts, dtype=float)
    for i, yr in enumerate(y.numpy()):
        s = (yr * inv).sum()
        want = 0.1 + 1 / (1 + np.exp(-10 * (inv / s - 0.2))) if s > 0 \
            else np.full(3, 1.1)
        np.testing.assert_allclose(ratio[i], want, rtol=1e-9)


def test_db_gradients_and_errors():
    loss_fn = DistributionBalancedLoss([3, 2, 1], 6)
    x = torch.tensor([[-30., 0., 30.], [30., -30., 0.]], requires_grad=True)
    y = torch.tensor([[1., 0., 0.], [0., 1., 1.]])
    loss = loss_fn(x, y, avg_factor=2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    with pytest.raises(RuntimeError, match='ClassFrequencyHook'):
        DistributionBalancedLoss()(x, y)
    with pytest.raises(ValueError, match="'b': 0"):
        DistributionBalancedLoss().set_class_frequencies(
            [3, 0, 1], 6, classes=['a', 'b', 'c'])
    with pytest.raises(ValueError, match='both'):
        DistributionBalancedLoss(class_counts=[1, 2])
    with pytest.raises(ValueError, match='counts for 3 classes'):
        loss_fn(torch.zeros(2, 4), torch.zeros(2, 4))


@pytest.mark.parametrize('cfg', [
    dict(type='TwoWayMultiLabelLoss'),
    dict(type='RobustAsymmetricLoss'),
    dict(type='DistributionBalancedLoss', class_counts=[4, 2, 1],
         num_samples=8),
])
def test_losses_train_mmpretrain_multilabel_head(cfg):
    """Registered, and usable as the loss of MMPretrain's linear head."""
    from mmpretrain.structures import DataSample
    head = MODELS.build(dict(type='MultiLabelLinearClsHead', num_classes=3,
                             in_channels=8, loss=cfg))
    feats = (torch.randn(4, 8), )
    samples = [DataSample().set_gt_label(lbl)
               for lbl in ([0], [0, 2], [], [1])]
    losses = head.loss(feats, samples)
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert head.fc.weight.grad.abs().sum() > 0
