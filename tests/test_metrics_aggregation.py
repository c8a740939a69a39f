"""Issue 13.3, 13.7 and 13.8: per-class patient aggregation (ODIR N by min),
float32 kept through aggregation, soft labels refused."""
import numpy as np
import pytest
import torch

import ldr_mm  # noqa: F401
from ldr_mm.datasets import ODIR5K, read_odir_annotations
from ldr_mm.datasets.odir import ODIR_CLASSES
from ldr_mm.evaluation.metrics import (MultiLabelAccuracy, MultiLabelAUC,
                                       MultiLabelScoreDump, ODIRMetric,
                                       aggregate_scores)
from medical_helpers import shared_file

#: Keywords of an eye that shows no disease (quality remarks included).
NORMAL_EYE = {'normal fundus', 'lens dust', 'low image quality',
              'image offset', 'optic disk photographically invisible'}


def run(metric, scores, targets, keys, meta=None):
    metric.dataset_meta = dict(ODIR5K.METAINFO) if meta is None else meta
    metric.process(None, [
        dict(pred_score=torch.as_tensor(s), gt_score=torch.as_tensor(t),
             img_path=f'{i}.jpg', patient_id=k)
        for i, (s, t, k) in enumerate(zip(scores, targets, keys))])
    return metric.evaluate(len(scores))


def perfect_eye_model(patients):
    """Per-eye scores of a model that is right about every eye: N=1 on a
    normal-looking eye, the patient's diseases on a diseased eye."""
    scores, targets, keys = [], [], []
    for p in patients:
        for kws in (p.left_keywords, p.right_keywords):
            s = np.zeros(len(ODIR_CLASSES), np.float32)
            if {k.lower() for k in kws} <= NORMAL_EYE and \
                    'normal fundus' in [k.lower() for k in kws]:
                s[0] = 1
            else:
                s[1:] = p.labels[1:]
            scores.append(s)
            targets.append(p.labels.astype(np.int64))
            keys.append(p.patient_id)
    return np.stack(scores), np.stack(targets), keys


def test_unilateral_disease_needs_min_for_normal():
    # every diseased patient: one diseased eye, one normal-looking eye
    rng = np.random.default_rng(0)
    P = 40
    scores, targets, keys = [], [], []
    for p in range(P):
        t = np.zeros(8, np.int64)
        t[0 if p % 2 else 1 + p % 7] = 1
        eyes = np.zeros((2, 8), np.float32)
        if t[0]:
            eyes[:, 0] = 1
        else:
            e = rng.integers(2)
            eyes[e, 1:], eyes[1 - e, 0] = t[1:], 1
        scores += list(eyes)
        targets += [t, t]
        keys += [f'p{p}'] * 2
    r = run(ODIRMetric(per_class=True), scores, targets, keys)
    assert r['odir/final'] == 1.0 and r['odir/class/N/auc'] == 1.0
    r = run(ODIRMetric(per_class=True, class_aggregate={}), scores,
            targets, keys)
    assert r['odir/class/N/auc'] == 0.5  # max: every patient "normal"
    assert r['odir/final'] < 0.9
    r = run(MultiLabelAUC(aggregate_by='patient_id', per_class=True),
            scores, targets, keys)
    assert r['auc/class/N'] == 1.0


def test_perfect_per_eye_model_on_the_real_workbook():
    path = shared_file('odir5k',
                       'ODIR-5K_Training_Annotations(Updated)_V2.xlsx')
    scores, targets, keys = perfect_eye_model(read_odir_annotations(path))
    assert scores.shape == (7000, 8)
    by_min = run(ODIRMetric(per_class=True), scores, targets, keys)
    by_max = run(ODIRMetric(per_class=True, class_aggregate={}), scores,
                 targets, keys)
    # measured: min-for-N 0.9996 (N AUC 0.998), max-for-all 0.948 (0.826)
    assert by_min['odir/final'] > 0.999
    assert by_min['odir/class/N/auc'] > 0.99
    assert by_max['odir/final'] < 0.95
    assert by_max['odir/class/N/auc'] < 0.85


def test_per_column_rules_and_dtype():
    s = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.5], [0.9, 0.9, 0.9]],
                 np.float32)
    t = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1]])
    agg, agg_t, keys = aggregate_scores(s, t, ['a', 'a', 'b'],
                                        ['min', 'max', 'mean'])
    assert keys == ['a', 'b']
    np.testing.assert_array_equal(agg[0], np.float32([0.2, 0.7, 0.3]))
    np.testing.assert_array_equal(agg_t, [[1, 0, 0], [0, 1, 1]])
    for how in ('max', 'min', 'mean'):
        assert aggregate_scores(s, t, ['a', 'a', 'b'], how)[0].dtype == \
            np.float32
    with pytest.raises(ValueError, match='median'):
        aggregate_scores(s, t, ['a', 'a', 'b'], 'median')
    with pytest.raises(ValueError, match="class_aggregate names \\['X'\\]"):
        run(ODIRMetric(class_aggregate={'X': 'min'}), s, t, [0, 0, 1],
            dict(classes=['a', 'b', 'c']))
    with pytest.raises(ValueError, match="class_aggregate\\['N'\\]"):
        ODIRMetric(class_aggregate={'N': 'median'})


def test_float32_score_at_the_threshold_stays_positive():
    # 0.7 in float32 is 0.69999999; in float64 it is < 0.7 -> flipped
    s = np.array([[0.7, 0.1], [0.7, 0.1], [0.2, 0.9]], np.float32)
    t = np.array([[1, 0], [1, 0], [0, 1]])
    meta = dict(classes=['a', 'b'])
    r = run(MultiLabelAccuracy(thr=0.7, per_class=True,
                               aggregate_by='patient_id'),
            s, t, ['p', 'p', 'q'], meta)
    plain = run(MultiLabelAccuracy(thr=0.7,
                                   per_class=True), s, t, [0, 1, 2], meta)
    assert plain['mACC/class/a'] == 1.0
    assert r['mACC/class/a'] == 1.0


@pytest.mark.parametrize('metric', [
    lambda: MultiLabelAUC(), lambda: ODIRMetric(aggregate_by=None),
    lambda: MultiLabelScoreDump('/nonexistent/never_written.csv')])
def test_soft_labels_are_refused(metric):
    m = metric()
    sample = dict(pred_score=torch.tensor([0.3, 0.8]),
                  gt_score=torch.tensor([0.0, 0.9]), img_path='soft.png')
    with pytest.raises(ValueError, match=r'soft\.png.*gt_score\[1\]=0\.9'):
        m.process(None, [sample])
