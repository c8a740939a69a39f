"""LDRHead against hand computations."""
import pytest
import torch
import torch.nn.functional as F

from mmpretrain.structures import DataSample

from ldr_mm.models import LDRHead


def samples(labels):
    return [DataSample().set_gt_label(torch.tensor(l, dtype=torch.long))
            for l in labels]


def test_logits_are_groupwise_linear():
    """logit[b, c] = w_c . x[b, c] + b_c, with values worked out by hand:
    x[b, c] = (b + 1) * ones, w_c = (c, 0, 0, 1), b_c = 10 c, so
    logit[b, c] = (b + 1)(c + 1) + 10 c."""
    head = LDRHead(num_classes=3, in_channels=4)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[0., 0, 0, 1], [1, 0, 0, 1],
                                        [2, 0, 0, 1]]))
        head.bias.copy_(torch.tensor([0., 10, 20]))
    x = torch.tensor([1., 2.])[:, None, None].expand(2, 3, 4)
    torch.testing.assert_close(
        head((x, )), torch.tensor([[1., 12, 23], [2, 14, 26]]))
    # each class reads only its own feature
    x2 = x.clone()
    x2[:, 1] = 0
    torch.testing.assert_close(
        head((x2, )), torch.tensor([[1., 10, 23], [2, 10, 26]]))


def test_bce_loss_is_mean_over_samples_and_classes():
    head = LDRHead(num_classes=3, in_channels=4)
    x = torch.randn(2, 3, 4)
    labels = [[0, 2], []]
    loss = head.loss((x, ), samples(labels))['loss']
    logits = head((x, ))
    y = torch.tensor([[1., 0., 1.], [0., 0., 0.]])
    p = torch.sigmoid(logits)
    by_hand = -(y * p.log() + (1 - y) * (1 - p).log()).sum() / 6
    torch.testing.assert_close(loss, by_hand)
    torch.testing.assert_close(
        loss, F.binary_cross_entropy_with_logits(logits, y))


def test_loss_uses_gt_score_when_present():
    head = LDRHead(num_classes=2, in_channels=3)
    x = torch.randn(1, 2, 3)
    s = DataSample().set_gt_score(torch.tensor([1., 0.]))
    loss = head.loss((x, ), [s])['loss']
    torch.testing.assert_close(
        loss,
        F.binary_cross_entropy_with_logits(head((x, )),
                                           torch.tensor([[1., 0.]])))


def test_predict_scores_and_thresholds():
    head = LDRHead(num_classes=3, in_channels=2)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([2.0, 0.0, -2.0]))
    out = head.predict((torch.randn(1, 3, 2), ))[0]
    torch.testing.assert_close(out.pred_score,
                               torch.sigmoid(torch.tensor([2.0, 0.0, -2.0])))
    assert out.pred_label.tolist() == [0, 1]  # 0.88, 0.5 >= 0.5; 0.12 not

    per_class = LDRHead(num_classes=3, in_channels=2, thr=[0.9, 0.4, 0.1])
    per_class.load_state_dict(head.state_dict())
    out = per_class.predict((torch.randn(1, 3, 2), ))[0]
    assert out.pred_label.tolist() == [1, 2]

    top = LDRHead(num_classes=3, in_channels=2, topk=1)
    top.load_state_dict(head.state_dict())
    assert top.predict((torch.randn(1, 3, 2), ))[0].pred_label.tolist() == [0]


def test_predict_keeps_given_samples():
    head = LDRHead(num_classes=2, in_channels=2)
    given = samples([[1]])
    out = head.predict((torch.randn(1, 2, 2), ), given)
    assert out[0] is given[0] and 'pred_score' in out[0]


def test_errors():
    with pytest.raises(ValueError, match='in_channels'):
        LDRHead(num_classes=2)
    with pytest.raises(ValueError, match='2 thresholds for 3 classes'):
        LDRHead(num_classes=3, in_channels=2, thr=[0.5, 0.5])
    head = LDRHead(num_classes=3, in_channels=4)
    with pytest.raises(ValueError, match=r'\(B, 3, 4\)'):
        head((torch.randn(2, 4, 4), ))
