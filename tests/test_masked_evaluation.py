"""Issue 23.1: evaluation with U-Ignore masks (``gt_mask``, label -1).

Every consumer of labels leaves a masked cell out of its class: the
clinical report (operating points, bootstrap intervals, curves), threshold
choice, score files (a masked cell stays masked), the confusion and
per-class tools. Checked against scikit-learn / brute force on the known
cells; end to end through tools/test.py on a CheXpert-style split.
"""
import json
import math
import os
import os.path as osp
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (accuracy_score, average_precision_score,
                             confusion_matrix, precision_score, recall_score,
                             roc_auc_score, roc_curve)

from ldr_mm.evaluation import (average_precision_per_class,
                               choose_thresholds, labelled, read_score_file,
                               roc_auc_per_class)
from ldr_mm.evaluation.clinical import (bootstrap_auc_ap, bootstrap_indices,
                                        co_confusion, roc_curve_points,
                                        threshold_metrics, weighted_auc_ap)
from ldr_mm.evaluation.metrics import MultiLabelScoreDump


def masked_data(n=120, C=4, seed=0):
    """Scores with ties, 0/1 labels and about 20 % masked (-1) cells."""
    rng = np.random.default_rng(seed)
    t = (rng.random((n, C)) < np.linspace(0.5, 0.15, C)).astype(np.int64)
    s = np.round(np.clip(rng.random(t.shape) * 0.6 + t * 0.3, 0, 1), 2)
    t[rng.random(t.shape) < 0.2] = -1
    t[:2] = [1, 0, 1, 0][:C], [0, 1, 0, 1][:C]  # both values in every class
    return s, t


def sk_or_nan(fn, y, s):
    return fn(y, s) if 0 < y.sum() < len(y) else math.nan


def assert_same(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float),
                               atol=1e-12, equal_nan=True)


def test_ranking_and_operating_points_leave_masked_cells_out():
    s, t = masked_data()
    thr = np.array([0.5, 0.4, 0.45, 0.6])
    m = threshold_metrics(s, t, thr)
    auc, ap = roc_auc_per_class(s, t), average_precision_per_class(s, t)
    for c in range(t.shape[1]):
        k = t[:, c] >= 0
        y, sc = t[k, c], s[k, c]
        pred = (sc >= thr[c]).astype(int)
        assert m['tp'][c] + m['fp'][c] + m['tn'][c] + m['fn'][c] == k.sum()
        assert m['sens'][c] == pytest.approx(recall_score(y, pred))
        assert m['spec'][c] == pytest.approx(recall_score(1 - y, 1 - pred))
        assert m['ppv'][c] == pytest.approx(precision_score(y, pred))
        assert auc[c] == pytest.approx(roc_auc_score(y, sc))
        assert ap[c] == pytest.approx(average_precision_score(y, sc))
        fpr, tpr = roc_curve_points(s, t, c)
        ref_fpr, ref_tpr, _ = roc_curve(y, sc, drop_intermediate=False)
        assert_same(fpr, ref_fpr)
        assert_same(tpr, ref_tpr)
    with pytest.raises(ValueError, match=r'1, 0 or -1 \(masked\)'):
        threshold_metrics(s, np.where(t < 0, 2, t))


def test_bootstrap_drops_masked_cells_of_each_resample():
    s, t = masked_data(n=80, seed=1)
    R = 30
    ci = bootstrap_auc_ap(s, t, R, seed=4, level=0.9)
    counts = np.stack([np.bincount(i, minlength=len(s)) for i in
                       bootstrap_indices(len(s), R, seed=4)])
    auc, ap = weighted_auc_ap(s, t, counts)
    ref_auc, ref_ap = np.full_like(auc, np.nan), np.full_like(ap, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for r, idx in enumerate(bootstrap_indices(len(s), R, seed=4)):
            for c in range(t.shape[1]):
                y, sc = t[idx, c], s[idx, c]
                y, sc = y[y >= 0], sc[y >= 0]
                ref_auc[r, c] = sk_or_nan(roc_auc_score, y, sc)
                ref_ap[r, c] = sk_or_nan(average_precision_score, y, sc)
    assert_same(auc, ref_auc)
    assert_same(ap, ref_ap)
    lo, hi = np.nanpercentile(ref_auc, [5, 95], axis=0)
    assert_same(ci['auc']['class_lo'], lo)
    assert_same(ci['auc']['class_hi'], hi)


def test_co_confusion_counts_known_cells_only():
    s, t = masked_data(n=60, seed=2)
    thr = 0.5
    mat = co_confusion(s, t, thr)
    C = t.shape[1]
    ref = np.zeros((C + 1, C), np.int64)
    for n in range(len(s)):
        pred = s[n] >= thr
        rows = list(np.flatnonzero(t[n] == 1))
        if (t[n] == 0).all():
            rows.append(C)  # known to have no finding at all
        for i in rows:
            for j in range(C):
                if i == j and t[n, j] == 1 and not pred[j]:
                    ref[i, j] += 1
                elif i != j and t[n, j] == 0 and pred[j]:
                    ref[i, j] += 1
    np.testing.assert_array_equal(mat, ref)


def test_threshold_choice_uses_the_known_cells_of_each_class():
    s, t = masked_data(seed=3)
    out = choose_thresholds(s, t, 'f1')
    for c in range(t.shape[1]):
        k = t[:, c] >= 0
        one = choose_thresholds(s[k][:, [c]], t[k][:, [c]], 'f1')
        assert out['thresholds'][c] == one['thresholds'][0]
        assert out['values'][c] == one['values'][0]
        assert out['positives'][c] == (t[:, c] == 1).sum()
        assert out['negatives'][c] == (t[:, c] == 0).sum()


def _dump(path, scores, labels, masks):
    dump = MultiLabelScoreDump(path)
    dump.dataset_meta = dict(classes=['a', 'b', 'c', 'd'])
    samples = []
    for i, (sc, lab, m) in enumerate(zip(scores, labels, masks)):
        d = dict(pred_score=torch.from_numpy(sc.astype(np.float32)),
                 gt_score=torch.tensor(lab), img_path=f'{i}.png')
        if m is not None:
            d['gt_mask'] = np.asarray(m, np.uint8)
        samples.append(d)
    dump.process(None, samples)
    dump.evaluate(len(samples))
    return read_score_file(path)


@pytest.mark.parametrize('ext', ['csv', 'json'])
def test_score_file_keeps_masked_cells_masked(tmp_path, ext):
    s, t = masked_data(n=30, seed=5)
    labels, masks = np.maximum(t, 0), (t >= 0).astype(np.uint8)
    path = str(tmp_path / f'scores.{ext}')
    sf = _dump(path, s, labels, masks)
    np.testing.assert_array_equal(sf.gt, t)  # masked: -1, not 0
    assert labelled(sf)
    assert_same(roc_auc_per_class(sf.scores, sf.gt),
                roc_auc_per_class(s.astype(np.float32), t))
    text = open(path).read()
    if ext == 'csv':  # a masked cell is an empty field
        assert ',,' in text or text.rstrip().endswith(',')
    else:
        assert json.loads(text)['gt'][int(np.argwhere(t < 0)[0][0])].count(
            None) == (t[np.argwhere(t < 0)[0][0]] < 0).sum()
    # an unlabelled run (no gt) still writes -1 rows and is not 'labelled'
    dump = MultiLabelScoreDump(str(tmp_path / f'u.{ext}'))
    dump.dataset_meta = dict(classes=['a', 'b', 'c', 'd'])
    dump.process(None, [dict(pred_score=torch.rand(4), img_path='u.png')])
    dump.evaluate(1)
    unl = read_score_file(str(tmp_path / f'u.{ext}'))
    assert (unl.gt == -1).all() and not labelled(unl)


def test_old_score_files_still_read(tmp_path):
    """Files written before masks were kept: -1 rows = unlabelled."""
    p = tmp_path / 'old.csv'
    p.write_text('img_path,score/a,gt/a\nx.png,0.5,1\ny.png,0.25,-1\n')
    sf = read_score_file(str(p))
    np.testing.assert_array_equal(sf.gt, [[1], [-1]])
    assert not labelled(sf)
    p.write_text('img_path,score/a,gt/a\nx.png,0.5,1\ny.png,0.25,0.5\n')
    with pytest.raises(ValueError, match='line 3'):
        read_score_file(str(p))


def strict_json(path):
    with open(path) as f:
        return strict_json_text(f.read())


def test_metrics_json_is_strict(tmp_path):
    """--metrics-out's conversion: NaN / Inf -> null, NumPy scalars ->
    numbers; a strict parser reads the result."""
    from ldr_mm.evaluation.report import strict_json_values
    metrics = {'auc/mean': np.float64(0.5), 'auc/class/a': math.nan,
               'n': np.int64(3), 'x': [np.float32('inf'), 1.0],
               'nested': {'y': (float('-inf'), 'text')}}
    path = tmp_path / 'm.json'
    path.write_text(json.dumps(strict_json_values(metrics), allow_nan=False))
    assert strict_json(path) == {'auc/mean': 0.5, 'auc/class/a': None,
                                 'n': 3, 'x': [None, 1.0],
                                 'nested': {'y': [None, 'text']}}
    with pytest.raises(ValueError, match='NaN'):
        strict_json_text(json.dumps(metrics['auc/class/a']))


def strict_json_text(text):
    def refuse(name):
        raise ValueError(f'non-standard JSON constant {name}')
    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------- end to end
@pytest.fixture(scope='module')
def chexpert_run(tmp_path_factory):
    """A CheXpert tree whose test / val splits hold -1 cells, the stage-1
    CheXpert config shrunk, trained 2 iterations."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from cxr_helpers import write_chexpert
    from medical_helpers import REPO, tiny_overrides, write_prompt_cache
    from ldr_mm.datasets import CHEXPERT_CLASSES
    base = tmp_path_factory.mktemp('masked_eval')
    root = str(base / 'CheXpert-v1.0-small')
    os.makedirs(root)
    write_chexpert(root, n_patients=(40, 3))
    cache = write_prompt_cache(str(base / 'cx.pth'), CHEXPERT_CLASSES)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet',
                                   'ldr_r50_chexpert_stage1.py'))
    cfg.merge_from_dict(tiny_overrides(cfg, root, cache, str(base / 'w')))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        # patients of train.csv (with -1 cells) in every split
        cfg[key].dataset.split_method = 'patient'
    cfg.val_dataloader.dataset.split = 'test'  # more rows to choose on
    cfg_file = str(base / 'cfg.py')
    cfg.dump(cfg_file)
    torch.manual_seed(0)
    Runner.from_cfg(Config.fromfile(cfg_file)).train()
    return dict(base=base, config=cfg_file,
                checkpoint=str(base / 'w' / 'epoch_1.pth'))


@pytest.mark.slow
def test_tools_evaluate_a_masked_split(chexpert_run, capsys):
    from inference_helpers import load_tool
    from mmengine.config import Config

    from ldr_mm.apis.dataset_labels import metadata_only
    from mmpretrain.registry import DATASETS
    base, cfg, ckpt = (chexpert_run[k] for k in ('base', 'config',
                                                  'checkpoint'))
    out = str(base / 'scores.csv')
    m_out = str(base / 'metrics.json')
    metrics = load_tool('test.py').main([
        cfg, ckpt, '--out', out, '--metrics-out', m_out, '--bootstrap', '30',
        '--curves-dir', str(base / 'curves'), '--work-dir',
        str(base / 'test')])
    printed = capsys.readouterr().out
    # the dataset's own labels and masks, read independently of the tools
    ds = DATASETS.build(metadata_only(
        Config.fromfile(cfg).test_dataloader.dataset.to_dict(), DATASETS))
    classes = list(ds.metainfo['classes'])
    rows = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        y = np.zeros(len(classes), np.int64)
        y[info['gt_label']] = 1
        rows[info['img_path']] = np.where(np.asarray(info['gt_mask']) > 0,
                                          y, -1)
    sf = read_score_file(out)
    gt = np.stack([rows[p] for p in sf.img_paths])
    np.testing.assert_array_equal(sf.gt, gt)  # masked stays masked
    n_masked = int((gt < 0).sum())
    assert n_masked > 0
    assert f'{n_masked} masked' in printed
    assert metrics['clinical/masked/total'] == n_masked
    known_both = 0
    for c, name in enumerate(classes):
        k = gt[:, c] >= 0
        y, s = gt[k, c], sf.scores[k, c]
        assert metrics[f'clinical/masked/class/{name}'] == (~k).sum()
        pred = (s >= 0.5).astype(int)
        tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()

        def ratio(a, b):
            return a / b if b else math.nan

        ref = {'clinical/sens': ratio(tp, tp + fn),
               'clinical/spec': ratio(tn, tn + fp),
               'clinical/ppv': ratio(tp, tp + fp),
               'clinical/npv': ratio(tn, tn + fn),
               'clinical/f1': ratio(2 * tp, 2 * tp + fp + fn),
               'mACC': accuracy_score(y, pred),
               'auc': sk_or_nan(roc_auc_score, y, s),
               'mAP': sk_or_nan(average_precision_score, y, s)}
        for key, v in ref.items():
            got = metrics[f'{key}/class/{name}']
            assert (math.isnan(v) and math.isnan(got)) or \
                got == pytest.approx(v), (key, name)
        known_both += not math.isnan(ref['auc'])
    assert known_both >= 3
    # reading masked cells as negatives would change the values checked
    as_zero = roc_auc_per_class(sf.scores, np.maximum(gt, 0))
    assert not np.allclose(as_zero, [metrics[f'auc/class/{c}']
                                     for c in classes], equal_nan=True)
    for key in ('auc/mean', 'mAP/mean', 'clinical/sens/mean',
                'clinical/auc_lo/mean'):
        assert np.isfinite(metrics[key])
    saved = strict_json(m_out)['metrics']
    assert any(v is None for v in saved.values())  # NaN written as null
    assert saved['clinical/masked/total'] == n_masked

    # the tools reading the score file agree with the direct run
    conf = load_tool('analysis_tools/confusion_matrix.py').main(
        [out, '--out-dir', str(base / 'conf')])
    for c, name in enumerate(classes):
        v = metrics[f'clinical/sens/class/{name}']
        assert_same(conf['metrics']['sens'][c], v)
    res = load_tool('analysis_tools/per_class_metrics.py').main(
        [out, '--out', str(base / 'pc.png')])
    assert_same(res['auc'][0], [metrics[f'auc/class/{c}'] for c in classes])

    # thresholds: CONFIG CHECKPOINT (runs the val split) == --scores file
    thr_tool = load_tool('misc/choose_thresholds.py')
    direct = thr_tool.main([cfg, ckpt, '--out', str(base / 'thr1.json')])
    val_out = str(base / 'val.json')
    load_tool('test.py').main([cfg, ckpt, '--split', 'val', '--out', val_out,
                               '--bootstrap', '0', '--work-dir',
                               str(base / 'val')])
    from_file = thr_tool.main(['--scores', val_out, '--out',
                               str(base / 'thr2.json')])
    assert direct['thresholds'] == from_file['thresholds']
    assert direct['positives'] == from_file['positives']
    assert sum(from_file['positives']) + sum(from_file['negatives']) < \
        len(read_score_file(val_out).img_paths) * len(classes)
