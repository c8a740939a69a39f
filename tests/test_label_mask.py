"""U-Ignore masks (gt_mask): no loss from masked entries, and masked
entries left out of the per-class metrics (checked against scikit-learn)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score

from mmpretrain.registry import METRICS, MODELS
from mmpretrain.structures import DataSample

import ldr_mm  # noqa: F401
from ldr_mm.models import LDRHead, MaskedMultiLabelLinearClsHead


def samples(labels, masks=None):
    out = []
    for i, lab in enumerate(labels):
        s = DataSample().set_gt_label(torch.tensor(lab, dtype=torch.long))
        if masks is not None and masks[i] is not None:
            s.set_field(np.asarray(masks[i], np.uint8), 'gt_mask')
        out.append(s)
    return out


LABELS = [[0, 2], [], [1]]
MASKS = [[1, 0, 1], [1, 1, 0], None]  # the third sample has no mask
Y = torch.tensor([[1., 0., 1.], [0., 0., 0.], [0., 1., 0.]])
M = torch.tensor([[1., 0., 1.], [1., 1., 0.], [1., 1., 1.]])


def test_ldr_head_bce_is_the_mean_over_known_entries():
    head = LDRHead(num_classes=3, in_channels=4)
    x = torch.randn(3, 3, 4, requires_grad=True)
    loss = head.loss((x, ), samples(LABELS, MASKS))['loss']
    logits = head((x, ))
    by_hand = (F.binary_cross_entropy_with_logits(
        logits, Y, reduction='none') * M).sum() / M.sum()
    torch.testing.assert_close(loss, by_hand)
    loss.backward()
    assert (x.grad[0, 1] == 0).all() and (x.grad[1, 2] == 0).all()
    assert (x.grad[0, 0] != 0).any()
    # no mask anywhere: the unmasked loss, unchanged
    torch.testing.assert_close(
        head.loss((x, ), samples(LABELS))['loss'],
        F.binary_cross_entropy_with_logits(head((x, )), Y))


def test_ldr_head_gce_masked():
    head = LDRHead(num_classes=3, in_channels=4,
                   loss=dict(type='MultiLabelGCELoss', q=0.8))
    x = torch.randn(3, 3, 4)
    p = torch.sigmoid(head((x, )))
    el = (Y * (1 - p**0.8) + (1 - Y) * (1 - (1 - p)**0.8)) / 0.8
    torch.testing.assert_close(
        head.loss((x, ), samples(LABELS, MASKS))['loss'],
        (el * M).sum() / M.sum(), rtol=1e-4, atol=1e-6)


def test_bad_mask_is_refused():
    head = LDRHead(num_classes=3, in_channels=4)
    with pytest.raises(ValueError, match=r'gt_mask .* must be \(3,\) 0/1'):
        head.loss((torch.randn(1, 3, 4), ), samples([[0]], [[1, 0]]))


@pytest.mark.parametrize('loss', [
    dict(type='CrossEntropyLoss', use_sigmoid=True),
    dict(type='AsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0, clip=0.05),
    dict(type='FocalLoss', gamma=2.0, alpha=0.25),
    dict(type='RobustAsymmetricLoss'),
    dict(type='DistributionBalancedLoss', class_counts=[5, 3, 1],
         num_samples=8),
])
def test_masked_linear_head_for_the_baseline_losses(loss):
    head = MODELS.build(dict(type='MaskedMultiLabelLinearClsHead',
                             num_classes=3, in_channels=5, loss=loss))
    assert isinstance(head, MaskedMultiLabelLinearClsHead)
    feats = (torch.randn(3, 5), )
    plain = MODELS.build(dict(type='MultiLabelLinearClsHead', num_classes=3,
                              in_channels=5, loss=loss))
    plain.load_state_dict(head.state_dict())
    torch.testing.assert_close(head.loss(feats, samples(LABELS))['loss'],
                               plain.loss(feats, samples(LABELS))['loss'])
    logits = head(feats)
    el = head.loss_module(logits, Y, reduction_override='none')
    torch.testing.assert_close(
        head.loss(feats, samples(LABELS, MASKS))['loss'],
        (el * M).sum() / 3)
    # no gradient reaches the masked entries' logits
    z = logits.detach().clone().requires_grad_(True)
    head._get_loss(z, samples(LABELS, MASKS))['loss'].backward()
    assert (z.grad[M == 0] == 0).all() and (z.grad[M == 1] != 0).all()

def test_non_elementwise_loss_is_refused_with_ignore():
    head = MODELS.build(dict(type='MaskedMultiLabelLinearClsHead',
                             num_classes=3, in_channels=5,
                             loss=dict(type='TwoWayMultiLabelLoss')))
    with pytest.raises(ValueError, match='element-wise loss, which U-Ignore'):
        head.loss((torch.randn(3, 5), ), samples(LABELS, MASKS))


def _metric_samples(scores, labels, masks):
    out = []
    for s, lab, m in zip(scores, labels, masks):
        d = dict(pred_score=torch.as_tensor(s),
                 gt_label=torch.as_tensor(np.flatnonzero(lab)),
                 img_path='x.png')
        if m is not None:
            d['gt_mask'] = np.asarray(m, np.uint8)
        out.append(d)
    return out


def test_metrics_leave_masked_entries_out():
    rng = np.random.default_rng(0)
    N, C = 60, 4
    scores = rng.random((N, C)).astype(np.float32)
    labels = (rng.random((N, C)) < 0.4).astype(int)
    masks = (rng.random((N, C)) > 0.25).astype(int)
    masks[:, 0] = 1  # class 0 unmasked
    labels[:, 0] = np.arange(N) % 2
    data = _metric_samples(scores, labels, masks)
    meta = dict(classes=[f'c{i}' for i in range(C)])
    out = {}
    for kind in ('MultiLabelAUC', 'MultiLabelAP', 'MultiLabelAccuracy'):
        m = METRICS.build(dict(type=kind, per_class=True))
        m.dataset_meta = meta
        m.process(None, data)
        out[kind] = m.evaluate(N)
    for c in range(C):
        k = masks[:, c] == 1
        auc = roc_auc_score(labels[k, c], scores[k, c])
        ap = average_precision_score(labels[k, c], scores[k, c])
        acc = ((scores[k, c] >= 0.5) == labels[k, c]).mean()
        assert out['MultiLabelAUC'][f'auc/class/c{c}'] == pytest.approx(auc)
        assert out['MultiLabelAP'][f'mAP/class/c{c}'] == pytest.approx(ap)
        assert out['MultiLabelAccuracy'][f'mACC/class/c{c}'] == \
            pytest.approx(acc)
    # masking changes the result (the test would catch an ignored mask)
    m = METRICS.build(dict(type='MultiLabelAUC', per_class=True))
    m.dataset_meta = meta
    m.process(None, _metric_samples(scores, labels, [None] * N))
    plain = m.evaluate(N)
    assert plain['auc/class/c1'] != pytest.approx(
        out['MultiLabelAUC']['auc/class/c1'])
