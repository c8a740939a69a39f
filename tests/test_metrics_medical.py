"""mACC, balanced accuracy, the ODIR score and per-patient aggregation,
against scikit-learn (test-only dependency); DDP gathering."""
import json
import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

import ldr_mm  # noqa: F401
from ldr_mm.evaluation.metrics import (MultiLabelAccuracy, MultiLabelAP,
                                       MultiLabelAUC,
                                       MultiLabelBalancedAccuracy,
                                       ODIRMetric, aggregate_scores,
                                       odir_score)
from ldr_mm.evaluation.metrics.accuracy import (accuracy_per_class,
                                                balanced_accuracy_per_class)
from mmpretrain.registry import METRICS

CLASSES = ['a', 'b', 'c', 'd', 'e', 'f']
HEAD, TAIL = ['a', 'b'], ['c', 'd', 'e', 'f']


def random_data(n=60, c=6, seed=0, missing=(4, 5)):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < np.linspace(0.5, 0.1, c)).astype(int)
    scores = np.clip(0.35 * targets + rng.random((n, c)) * 0.8, 0, 1)
    scores[::7, 0] = 0.5  # exact threshold hits
    scores = np.round(scores, 2).astype(np.float32)  # ties; as the model
    if missing:
        targets[:, missing[0]] = 0  # no positives
        targets[:, missing[1]] = 1  # no negatives
    return scores, targets


def samples(scores, targets, keys=None):
    out = []
    for i, (s, t) in enumerate(zip(scores, targets)):
        d = dict(pred_score=torch.tensor(s), gt_score=torch.tensor(t),
                 img_path=f'{i}.png')
        if keys is not None:
            d['patient_id'] = keys[i]
        out.append(d)
    return out


def evaluate(metric, scores, targets, keys=None):
    metric.dataset_meta = dict(classes=CLASSES, head_classes=HEAD,
                               tail_classes=TAIL)
    metric.process(None, samples(scores, targets, keys))
    return metric.evaluate(len(scores))


def test_accuracy_matches_sklearn():
    scores, targets = random_data()
    acc = accuracy_per_class(scores, targets)
    bacc = balanced_accuracy_per_class(scores, targets)
    for c in range(6):
        pred = (scores[:, c] >= 0.5).astype(int)
        assert acc[c] == pytest.approx(
            skm.accuracy_score(targets[:, c], pred), abs=1e-6)
        if c < 4:
            assert bacc[c] == pytest.approx(
                skm.balanced_accuracy_score(targets[:, c], pred), abs=1e-6)
        else:
            assert math.isnan(bacc[c])  # one label value: missing


def test_accuracy_metrics_report_groups_and_missing_classes():
    scores, targets = random_data()
    acc = accuracy_per_class(scores, targets)
    bacc = balanced_accuracy_per_class(scores, targets)
    r = evaluate(MultiLabelAccuracy(per_class=True), scores, targets)
    assert r['mACC/mean'] == pytest.approx(acc.mean(), abs=1e-6)
    assert r['mACC/head'] == pytest.approx(acc[:2].mean(), abs=1e-6)
    assert r['mACC/tail'] == pytest.approx(acc[2:].mean(), abs=1e-6)
    assert r['mACC/class/e'] == pytest.approx(acc[4], abs=1e-6)
    r = evaluate(MultiLabelBalancedAccuracy(per_class=True), scores, targets)
    assert r['bACC/mean'] == pytest.approx(bacc[:4].mean(), abs=1e-6)
    assert r['bACC/tail'] == pytest.approx(bacc[2:4].mean(), abs=1e-6)
    assert math.isnan(r['bACC/class/f'])
    r = evaluate(MultiLabelAccuracy(thr=0.7), scores, targets)
    assert r['mACC/mean'] == pytest.approx(
        ((scores >= 0.7) == targets).mean(), abs=1e-6)


def sklearn_odir(scores, targets):
    gt, pr = targets.flatten(), scores.flatten()
    kappa = skm.cohen_kappa_score(gt, pr > 0.5)
    f1 = skm.f1_score(gt, pr > 0.5, average='micro')
    auc = skm.roc_auc_score(gt, pr)
    return dict(kappa=kappa, f1=f1, auc=auc, final=(kappa + f1 + auc) / 3,
                f1_pos=skm.f1_score(gt, pr > 0.5))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_odir_score_is_the_official_formula(seed):
    scores, targets = random_data(n=80, c=8, seed=seed, missing=(6, 7))
    ours, ref = odir_score(scores, targets), sklearn_odir(scores, targets)
    for k in ref:
        assert ours[k] == pytest.approx(ref[k], abs=1e-6), k
    # strict '>': a score of exactly 0.5 is negative
    s = np.array([[0.5, 0.9], [0.2, 0.51]])
    t = np.array([[1, 1], [0, 1]])
    assert odir_score(s, t)['f1'] == pytest.approx(0.75)


def test_odir_metric_groups_and_per_class():
    scores, targets = random_data(n=50, c=6, seed=3, missing=None)
    r = evaluate(ODIRMetric(aggregate_by=None, per_class=True), scores,
                 targets)
    ref = sklearn_odir(scores, targets)
    for k in ('kappa', 'f1', 'auc', 'final'):
        assert r[f'odir/{k}'] == pytest.approx(ref[k], abs=1e-6)
    head = sklearn_odir(scores[:, :2], targets[:, :2])
    tail = sklearn_odir(scores[:, 2:], targets[:, 2:])
    for k in ('kappa', 'f1', 'auc', 'final'):
        assert r[f'odir/head/{k}'] == pytest.approx(head[k], abs=1e-6)
        assert r[f'odir/tail/{k}'] == pytest.approx(tail[k], abs=1e-6)
    c = sklearn_odir(scores[:, 3:4], targets[:, 3:4])
    assert r['odir/class/d/final'] == pytest.approx(c['final'], abs=1e-6)


def test_aggregation_by_patient():
    rng = np.random.default_rng(5)
    P, C = 30, 6
    pt = (rng.random((P, C)) < 0.4).astype(int)
    # one or two images per patient, interleaved and shuffled
    keys, rows_t, rows_s = [], [], []
    for p in range(P):
        for _ in range(1 + p % 2):
            keys.append(f'p{p}')
            rows_t.append(pt[p])
            rows_s.append(rng.random(C))
    order = rng.permutation(len(keys))
    keys = [keys[i] for i in order]
    t = np.array(rows_t)[order]
    s = np.array(rows_s)[order]
    agg_s, agg_t, agg_k = aggregate_scores(s, t, keys)
    for g, k in enumerate(agg_k):
        rows = [i for i in range(len(keys)) if keys[i] == k]
        np.testing.assert_allclose(agg_s[g], s[rows].max(0))
        np.testing.assert_array_equal(agg_t[g], t[rows[0]])
    mean_s = aggregate_scores(s, t, keys, 'mean')[0]
    np.testing.assert_allclose(mean_s[0], s[[i for i in range(len(keys))
                                             if keys[i] == agg_k[0]]].mean(0))
    r = evaluate(ODIRMetric(), s, t, keys)
    ref = sklearn_odir(agg_s, agg_t)
    assert r['odir/final'] == pytest.approx(ref['final'], abs=1e-6)
    r = evaluate(MultiLabelAUC(aggregate_by='patient_id'), s, t, keys)
    assert r['auc/mean'] == pytest.approx(np.mean(
        [skm.roc_auc_score(agg_t[:, c], agg_s[:, c]) for c in range(C)]),
                                          abs=1e-6)
    r = evaluate(MultiLabelAP(aggregate_by='patient_id', aggregate='mean'),
                 s, t, keys)
    assert r['mAP/mean'] == pytest.approx(np.mean(
        [skm.average_precision_score(agg_t[:, c], mean_s[:, c])
         for c in range(C)]), abs=1e-6)


def test_aggregation_errors():
    s, t = np.random.rand(4, 6), np.zeros((4, 6), int)
    t[1, 2] = 1
    with pytest.raises(ValueError, match="patient_id='x' have different"):
        aggregate_scores(s, t, ['x', 'x', 'y', 'z'])
    with pytest.raises(ValueError, match="0.png\" has no 'patient_id'.*"
                       'meta_keys'):
        ODIRMetric().process(None, samples(s, t))
    with pytest.raises(ValueError, match='aggregate'):
        MultiLabelAUC(aggregate='median')


def test_registered():
    for name in ('MultiLabelAccuracy', 'MultiLabelBalancedAccuracy',
                 'ODIRMetric'):
        assert METRICS.get(name) is not None
    m = METRICS.build(dict(type='ODIRMetric'))
    assert m.aggregate_by == 'patient_id' and m.prefix == 'odir'


# ------------------------------------------------------------------- DDP
def _ddp_worker(rank, world, init_file, out_file, n):
    import torch.distributed as dist
    from mmengine.dataset import DefaultSampler
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world)
    scores, targets, keys = _ddp_data(n)
    sampler = DefaultSampler(list(range(n)), shuffle=False)
    idx = list(sampler)  # padded: the last rank repeats a sample
    out = {}
    for m in _ddp_metrics():
        m.dataset_meta = dict(classes=CLASSES, head_classes=HEAD,
                              tail_classes=TAIL)
        m.process(None, samples(scores[idx], targets[idx],
                                [keys[i] for i in idx]))
        out.update(m.evaluate(n))
    if rank == 0:
        with open(out_file, 'w') as f:
            json.dump(out, f)
    dist.destroy_process_group()


def _ddp_data(n):
    rng = np.random.default_rng(7)
    keys = [f'p{i // 2}' for i in range(n)]  # pairs straddle the ranks
    pt = (rng.random((n // 2 + 1, 6)) < 0.4).astype(int)
    targets = np.stack([pt[i // 2] for i in range(n)])
    return rng.random((n, 6)), targets, keys


def _ddp_metrics():
    return [ODIRMetric(), MultiLabelAUC(aggregate_by='patient_id'),
            MultiLabelAUC(prefix='img_auc'), MultiLabelAccuracy(),
            MultiLabelBalancedAccuracy()]


def test_ddp_results_are_gathered_once(tmp_path):
    n = 21  # odd: DefaultSampler pads one duplicate onto rank 1
    # fork: the children inherit the imported modules (spawn would spend
    # ~10 s importing torch and MMPretrain again on a 2-core machine)
    torch.multiprocessing.start_processes(
        _ddp_worker, args=(2, str(tmp_path / 'init'),
                           str(tmp_path / 'out.json'), n), nprocs=2,
        start_method='fork')
    with open(tmp_path / 'out.json') as f:
        ddp = json.load(f)
    scores, targets, keys = _ddp_data(n)
    single = {}
    for m in _ddp_metrics():
        single.update(evaluate(m, scores, targets, keys))
    assert set(ddp) == set(single)
    for k in single:
        assert ddp[k] == pytest.approx(single[k], abs=1e-9, nan_ok=True), k
    # the check is sensitive: counting the padding duplicate changes it
    padded = list(range(n)) + [0]
    dup = evaluate(MultiLabelAUC(prefix='img_auc'), scores[padded],
                   targets[padded])
    assert dup['img_auc/mean'] != pytest.approx(single['img_auc/mean'],
                                                abs=1e-9)
