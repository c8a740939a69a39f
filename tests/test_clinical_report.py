"""Clinical reporting (issue 14.5): operating-point metrics, bootstrap
intervals, curves and co-confusion checked against scikit-learn and brute
force; tools/test.py's report and tools/analysis_tools/confusion_matrix.py
end to end."""
import json
import math
import os.path as osp
import warnings

import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, confusion_matrix,
                             f1_score, precision_recall_curve,
                             precision_score, recall_score, roc_auc_score,
                             roc_curve)

from ldr_mm.evaluation.clinical import (bootstrap_auc_ap, bootstrap_indices,
                                        co_confusion, confusion_counts,
                                        pr_curve_points, roc_curve_points,
                                        threshold_metrics)


def make_data(n=240, seed=0):
    """Scores with ties (rounded) and rare classes, one without positives."""
    rng = np.random.default_rng(seed)
    rates = np.array([0.5, 0.2, 0.06, 0.03, 0.0])
    t = (rng.random((n, rates.size)) < rates).astype(np.int64)
    s = np.round(np.clip(rng.random(t.shape) * 0.6 + t * 0.3, 0, 1), 2)
    return s, t


def test_threshold_metrics_match_sklearn():
    s, t = make_data()
    thr = np.array([0.5, 0.4, 0.45, 0.3, 0.5])
    m = threshold_metrics(s, t, thr)
    for c in range(4):
        pred = (s[:, c] >= thr[c]).astype(int)
        tn, fp, fn, tp = confusion_matrix(t[:, c], pred,
                                          labels=[0, 1]).ravel()
        assert (m['tp'][c], m['fp'][c], m['tn'][c], m['fn'][c]) == \
            (tp, fp, tn, fn)
        assert m['sens'][c] == pytest.approx(recall_score(t[:, c], pred))
        assert m['spec'][c] == pytest.approx(
            recall_score(1 - t[:, c], 1 - pred))
        assert m['ppv'][c] == pytest.approx(precision_score(t[:, c], pred))
        assert m['npv'][c] == pytest.approx(
            precision_score(1 - t[:, c], 1 - pred))
        assert m['f1'][c] == pytest.approx(f1_score(t[:, c], pred))
    # class 4 has no positives: sensitivity undefined (NaN, not 0)
    assert math.isnan(m['sens'][4]) and m['spec'][4] > 0
    # no positive call at threshold 1.01: PPV undefined
    m = threshold_metrics(s, t, 1.01)
    assert np.isnan(m['ppv']).all() and (m['tp'] == 0).all()
    with pytest.raises(ValueError):
        confusion_counts(s, t, [0.5, 0.5])  # wrong number of thresholds


def test_bootstrap_matches_sklearn_on_the_drawn_resamples():
    s, t = make_data(n=150, seed=1)
    t = t[:, :4]
    s = s[:, :4]
    R, level = 60, 0.9
    ci = bootstrap_auc_ap(s, t, R, seed=3, level=level,
                          classes=list('abcd'), groups=dict(head=['a', 'b'],
                                                            tail=['c', 'd']))
    aucs = np.full((R, 4), np.nan)
    aps = np.full((R, 4), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for r, idx in enumerate(bootstrap_indices(len(s), R, seed=3)):
            for c in range(4):
                y = t[idx, c]
                if 0 < y.sum() < len(y):
                    aucs[r, c] = roc_auc_score(y, s[idx, c])
                    aps[r, c] = average_precision_score(y, s[idx, c])
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    for key, ref in (('auc', aucs), ('ap', aps)):
        lo, hi = np.nanpercentile(ref, q, axis=0)
        np.testing.assert_allclose(ci[key]['class_lo'], lo, atol=1e-12)
        np.testing.assert_allclose(ci[key]['class_hi'], hi, atol=1e-12)
        assert ci[key]['valid'].tolist() == (~np.isnan(ref)).sum(0).tolist()
        # the rare class is missing from some resamples
        assert ci[key]['valid'][3] < R
        mean = np.nanmean(ref, axis=1)
        m_lo, m_hi = np.percentile(mean, q)
        assert ci[key]['mean_lo'] == pytest.approx(m_lo)
        assert ci[key]['mean_hi'] == pytest.approx(m_hi)
        head = np.nanmean(ref[:, :2], axis=1)
        assert ci[key]['head_lo'] == pytest.approx(np.percentile(head, q[0]))
    # the interval holds the point estimate and depends on the seed
    point = roc_auc_score(t[:, 0], s[:, 0])
    assert ci['auc']['class_lo'][0] < point < ci['auc']['class_hi'][0]
    other = bootstrap_auc_ap(s, t, R, seed=4, level=level)
    assert other['auc']['class_lo'][0] != ci['auc']['class_lo'][0]
    with pytest.raises(ValueError, match='level'):
        bootstrap_auc_ap(s, t, 10, level=95)


def test_curves_match_sklearn():
    s, t = make_data(seed=2)
    for c in range(3):
        fpr, tpr = roc_curve_points(s, t, c)
        ref_fpr, ref_tpr, _ = roc_curve(t[:, c], s[:, c],
                                        drop_intermediate=False)
        np.testing.assert_allclose(fpr, ref_fpr)
        np.testing.assert_allclose(tpr, ref_tpr)
        rec, prec = pr_curve_points(s, t, c)
        ref_p, ref_r, _ = precision_recall_curve(t[:, c], s[:, c])
        np.testing.assert_allclose(rec, ref_r[::-1][1:])
        np.testing.assert_allclose(prec, ref_p[::-1][1:])


def test_co_confusion_brute_force():
    s, t = make_data(n=80, seed=3)
    thr = [0.5, 0.45, 0.4, 0.35, 0.5]
    mat = co_confusion(s, t, thr)
    C = t.shape[1]
    pred = s >= np.asarray(thr)
    ref = np.zeros((C + 1, C), dtype=np.int64)
    for n in range(len(s)):
        rows = list(np.flatnonzero(t[n])) or [C]
        for i in rows:
            for j in range(C):
                if i == j:
                    ref[i, j] += int(not pred[n, j])
                elif not t[n, j] and pred[n, j]:
                    ref[i, j] += 1
    np.testing.assert_array_equal(mat, ref)
    np.testing.assert_array_equal(np.diag(mat[:C]),
                                  confusion_counts(s, t, thr)['fn'])


@pytest.mark.slow
def test_test_tool_report_and_confusion_tool(tmp_path, capsys):
    """tools/test.py with the clinical report on a tiny trained model; the
    numbers equal the functions above applied to its --out file."""
    from inference_helpers import load_tool, make_tiny_run

    from ldr_mm.evaluation import read_score_file, save_thresholds
    run = make_tiny_run(str(tmp_path / 'run'))
    test_tool = load_tool('test.py')
    out = str(tmp_path / 'scores.json')  # full-precision scores
    # thresholds file: per class, as choose_thresholds writes it
    from ldr_mm.datasets.demo import DEMO_CLASSES
    classes = list(DEMO_CLASSES)
    thr = np.linspace(0.3, 0.7, len(classes))
    thr_file = str(tmp_path / 'thr.json')
    save_thresholds(thr_file, classes, thr, 'f1')
    curves = tmp_path / 'curves'
    metrics = test_tool.main([
        run.config, run.checkpoint, '--out', out, '--metrics-out',
        str(tmp_path / 'm.json'), '--thresholds', thr_file, '--bootstrap',
        '40', '--bootstrap-seed', '5', '--curves-dir', str(curves),
        '--groups', 'frequency', '--freq-threshold', '5'])
    printed = capsys.readouterr().out
    assert 'Clinical report (thresholds: per class, from' in printed
    assert 'AUC [95% CI]' in printed
    sf = read_score_file(out)
    ref = threshold_metrics(sf.scores, sf.gt, thr)
    for i, c in enumerate(classes):
        for k in ('sens', 'spec', 'f1'):
            v = metrics[f'clinical/{k}/class/{c}']
            assert (math.isnan(v) and math.isnan(ref[k][i])) or \
                v == pytest.approx(ref[k][i]), (k, c)
        assert metrics[f'clinical/thr/class/{c}'] == pytest.approx(thr[i])
    ci = bootstrap_auc_ap(sf.scores, sf.gt, 40, seed=5)
    assert metrics['clinical/auc_lo/mean'] == pytest.approx(
        ci['auc']['mean_lo'])
    for name in ('roc_curves.png', 'pr_curves.png'):
        assert osp.getsize(curves / name) > 10_000
    # frequency groups: head = at least 5 training positives
    from ldr_mm.apis.dataset_labels import split_labels
    sl = split_labels(run.config, 'train')
    head = [c for c, n in zip(sl.classes, sl.counts) if n >= 5]
    assert 0 < len(head) < len(classes)
    head_auc = np.nanmean([metrics[f'auc/class/{c}'] for c in head])
    assert metrics['auc/head'] == pytest.approx(head_auc)
    def refuse(name):  # strict JSON: NaN is written as null (issue 23.8)
        raise ValueError(f'bare {name} in --metrics-out')
    saved = json.loads((tmp_path / 'm.json').read_text(),
                       parse_constant=refuse)['metrics']
    assert any(v is None for v in saved.values())  # the NaN metrics
    assert saved['clinical/bootstrap/resamples'] == 40
    import ldr_mm
    assert json.load(open(tmp_path / 'm.json'))['versions']['ldr_mm'] == \
        ldr_mm.__version__

    conf_tool = load_tool('analysis_tools/confusion_matrix.py')
    res = conf_tool.main([out, '--thresholds', thr_file, '--out-dir',
                          str(tmp_path / 'conf')])
    np.testing.assert_array_equal(res['co_confusion'],
                                  co_confusion(sf.scores, sf.gt, thr))
    assert osp.getsize(res['png']) > 10_000
    assert 'Largest co-confusions' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        test_tool.parse_args([run.config, run.checkpoint, '--thresholds',
                              str(tmp_path / 'missing.json')])
    assert 'neither a number nor an existing' in capsys.readouterr().err


def test_report_metric_follows_the_patient_aggregation():
    """ODIR-5K configs score per patient: the clinical report does too."""
    from mmengine.config import Config

    from conftest import REPO
    from inference_helpers import load_tool
    test_tool = load_tool('test.py')
    cfg_path = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r50_odir_stage1.py')
    args = test_tool.parse_args([cfg_path, 'ckpt.pth', '--bootstrap', '0',
                                 '--thresholds', '0.3'])
    cfg = test_tool.merge_args(Config.fromfile(cfg_path), args)
    assert test_tool.apply_report_args(cfg, args) is None
    report = cfg.test_evaluator[-1]
    assert report['type'] == 'MultiLabelClinicalReport'
    assert report['aggregate_by'] == 'patient_id'
    assert report['thresholds'] == 0.3 and report['bootstrap'] == 0
    with pytest.raises(SystemExit):
        test_tool.parse_args([cfg_path, 'ckpt.pth', '--freq-threshold', '5'])


def test_report_plots_metric_draws_what_the_report_computes(tmp_path):
    """``--curves-dir`` adds MultiLabelReportPlots with the report's
    thresholds, bins and aggregation; the metric writes the three PNGs from
    the evaluator's scores and reports no values (the clinical and
    calibration metrics only compute)."""
    import torch
    from mmengine.config import Config

    from conftest import REPO
    from inference_helpers import load_tool
    from mmpretrain.registry import METRICS
    test_tool = load_tool('test.py')
    cfg_path = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r50_odir_stage1.py')
    out = str(tmp_path / 'curves')
    args = test_tool.parse_args([cfg_path, 'ckpt.pth', '--thresholds', '0.3',
                                 '--curves-dir', out,
                                 '--calibration-bins', '7'])
    cfg = test_tool.merge_args(Config.fromfile(cfg_path), args)
    test_tool.apply_report_args(cfg, args)
    types = [m['type'] for m in cfg.test_evaluator]
    plots = cfg.test_evaluator[-1]
    assert types[-3:] == ['MultiLabelCalibration', 'MultiLabelClinicalReport',
                          'MultiLabelReportPlots']
    assert 'curve_dir' not in cfg.test_evaluator[-2]
    assert (plots['out_dir'], plots['thresholds'], plots['num_bins'],
            plots['aggregate_by']) == (out, 0.3, 7, 'patient_id')

    s, t = make_data(n=60, seed=3)
    t[:5, 1] = -1  # masked cells (U-Ignore) are left out
    metric = METRICS.build(dict(type='MultiLabelReportPlots', out_dir=out,
                                thresholds=[0.5, 0.4, 0.45, 0.3, 0.5],
                                num_bins=5))
    metric.dataset_meta = dict(classes=list('abcde'), head_classes=['a'],
                               tail_classes=['d', 'e'])
    metric.process(None, [
        dict(pred_score=torch.tensor(si, dtype=torch.float32),
             gt_score=torch.tensor(np.maximum(ti, 0)),
             gt_mask=torch.tensor(ti >= 0)) for si, ti in zip(s, t)])
    assert metric.evaluate(len(s)) == {}
    for name in ('roc_curves.png', 'pr_curves.png', 'reliability.png'):
        assert osp.getsize(osp.join(out, name)) > 10_000
