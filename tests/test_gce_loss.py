"""MultiLabelGCELoss against independent references."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ldr_mm.models.losses import MultiLabelGCELoss, multilabel_gce


def reference_gce(logits, target, q):
    """The textbook formula in float64 numpy: powers of the probability."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-x))
    return (y * (1 - p**q) + (1 - y) * (1 - (1 - p)**q)) / q


def test_matches_textbook_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 7, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(64, 7, generator=g) < 0.3).double()
    for q in (0.1, 0.5, 0.8, 1.0):
        ours = multilabel_gce(x, y, q).numpy()
        np.testing.assert_allclose(
            ours, reference_gce(x.numpy(), y.numpy(), q), rtol=1e-10)


def test_q_to_zero_approaches_bce():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 5, generator=g, dtype=torch.float64) * 4
    y = (torch.rand(200, 5, generator=g) < 0.5).double()
    bce = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    errs = []
    for q in (1e-1, 1e-2, 1e-3, 1e-6):
        errs.append(float((multilabel_gce(x, y, q) - bce).abs().max()))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-6 * float(bce.max())**2  # O(q L^2)
    # and the leading term of the expansion (1 - e^{-qL}) / q = L - q L^2 / 2
    q = 1e-3
    second = bce - q * bce**2 / 2
    assert float((multilabel_gce(x, y, q) - second).abs().max()) < \
        float(q**2 * bce.max()**3)
    # the module, averaged like LDRHead does
    loss = MultiLabelGCELoss(q=1e-6)(x, y, avg_factor=x.numel())
    assert float(loss) == pytest.approx(float(bce.mean()), rel=1e-4)


def test_q_one_is_mae():
    x = torch.linspace(-5, 5, 11, dtype=torch.float64).reshape(1, -1)
    y = torch.zeros_like(x)
    y[0, ::2] = 1
    p = torch.sigmoid(x)
    mae = y * (1 - p) + (1 - y) * p
    assert torch.allclose(multilabel_gce(x, y, 1.0), mae, atol=1e-12)


@pytest.mark.parametrize('q', [0.01, 0.8, 1.0])
def test_finite_value_and_gradient_at_extremes(q):
    x = torch.tensor([[-1e4, -100., -30., 0., 30., 100., 1e4]],
                     requires_grad=True)
    for label in (0.0, 1.0):
        y = torch.full_like(x, label)
        loss = MultiLabelGCELoss(q=q)(x, y, avg_factor=x.numel())
        (grad, ) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss)
        assert torch.isfinite(grad).all()
        # gradient pushes the logit toward the label (or is ~0 there)
        if label == 1.0:
            assert (grad <= 0).all()
        else:
            assert (grad >= 0).all()
    # fp16 logits (AMP) are computed in float32
    x16 = torch.tensor([[-100., 0., 100.]], dtype=torch.float16)
    out = MultiLabelGCELoss(q=q)(x16, torch.ones_like(x16))
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_bounded_unlike_bce():
    """GCE with q > 0 is bounded by 1/q (robust to noisy labels)."""
    x = torch.tensor([[-1e3]])
    q = 0.8
    val = float(multilabel_gce(x, torch.ones_like(x), q))
    assert val == pytest.approx(1 / q, rel=1e-6)


def test_weight_reduction_and_errors():
    x = torch.randn(4, 3)
    y = (torch.rand(4, 3) > 0.5).float()
    crit = MultiLabelGCELoss(q=0.5, loss_weight=2.0)
    per = multilabel_gce(x, y, 0.5)
    assert torch.allclose(crit(x, y, reduction_override='none'), 2 * per)
    assert torch.allclose(crit(x, y, reduction_override='sum'),
                          2 * per.sum())
    w = torch.tensor([1., 0., 1., 0.])
    assert torch.allclose(
        crit(x, y, weight=w, avg_factor=6.0),
        2 * (per * w[:, None]).sum() / 6.0)
    with pytest.raises(ValueError, match='multi-hot'):
        crit(x, torch.tensor([0, 1, 2, 0]))
    for q in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match='0 < q <= 1'):
            MultiLabelGCELoss(q=q)


def test_ldr_head_uses_gce_mean_over_n_and_c():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    head = MODELS.build(
        dict(type='LDRHead', num_classes=3, in_channels=4,
             loss=dict(type='MultiLabelGCELoss', q=0.8)))
    feats = torch.randn(5, 3, 4)
    target = (torch.rand(5, 3) > 0.5).float()
    samples = [DataSample().set_gt_score(t) for t in target]
    loss = head.loss((feats, ), samples)['loss'].detach()
    logits = head(feats)
    expect = reference_gce(logits.detach().numpy(), target.numpy(),
                           0.8).mean()
    assert float(loss) == pytest.approx(float(expect), rel=1e-5)
