"""Per-class AUC/AP against scikit-learn, and the metric classes."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from mmpretrain.structures import DataSample

from ldr_mm.evaluation import (average_precision_per_class,
                               roc_auc_per_class)
from ldr_mm.evaluation.metrics import MultiLabelAP, MultiLabelAUC


@pytest.mark.parametrize('ties', [False, True])
def test_against_sklearn(ties):
    rng = np.random.default_rng(0)
    for _ in range(30):
        n, c = rng.integers(2, 80), rng.integers(1, 6)
        s = (rng.integers(0, 4, (n, c)) / 3.0) if ties else rng.random((n, c))
        t = (rng.random((n, c)) < 0.3).astype(int)
        auc, ap = roc_auc_per_class(s, t), average_precision_per_class(s, t)
        for k in range(c):
            if t[:, k].min() == t[:, k].max():
                assert math.isnan(auc[k]) and math.isnan(ap[k])
                continue
            assert abs(auc[k] - roc_auc_score(t[:, k], s[:, k])) < 1e-9
            assert abs(ap[k] - average_precision_score(t[:, k], s[:, k])) \
                < 1e-9


def test_rejects_bad_input():
    with pytest.raises(ValueError, match='Non-finite score at sample 1'):
        roc_auc_per_class([[0.1], [np.nan]], [[0], [1]])
    with pytest.raises(ValueError, match=r'1, 0 or -1 \(masked\)'):
        average_precision_per_class([[0.1], [0.2]], [[0], [2]])


def run_metric(metric, scores, targets, meta):
    metric.dataset_meta = meta
    samples = []
    for s, t in zip(scores, targets):
        d = DataSample().set_pred_score(torch.tensor(s, dtype=torch.float32))
        d.set_gt_label(torch.tensor(np.flatnonzero(t), dtype=torch.long))
        samples.append(d.to_dict())
    metric.process(None, samples)
    return metric.evaluate(len(samples))


def test_metric_groups_and_missing_class(caplog):
    rng = np.random.default_rng(1)
    scores = rng.random((40, 4))
    targets = (rng.random((40, 4)) < 0.4).astype(int)
    targets[:, 3] = 0  # class 'd' has no positives
    meta = dict(classes=['a', 'b', 'c', 'd'], head_classes=['a', 'b'],
                tail_classes=['c', 'd'])
    res = run_metric(MultiLabelAUC(per_class=True), scores, targets, meta)
    per = [roc_auc_score(targets[:, k], scores[:, k]) for k in range(3)]
    assert res['auc/mean'] == pytest.approx(np.mean(per), abs=1e-6)
    assert res['auc/head'] == pytest.approx(np.mean(per[:2]), abs=1e-6)
    assert res['auc/tail'] == pytest.approx(per[2], abs=1e-6)
    assert math.isnan(res['auc/class/d'])
    res = run_metric(MultiLabelAP(), scores, targets, meta)
    per = [average_precision_score(targets[:, k], scores[:, k])
           for k in range(3)]
    assert res['mAP/mean'] == pytest.approx(np.mean(per), abs=1e-6)
    assert 'mAP/class/a' not in res


def test_unknown_group_class_is_an_error():
    meta = dict(classes=['a', 'b'], head_classes=['a', 'x'])
    with pytest.raises(ValueError, match=r"\['x'\]"):
        run_metric(MultiLabelAUC(), np.random.rand(4, 2),
                   np.array([[0, 1], [1, 0], [1, 1], [0, 0]]), meta)
