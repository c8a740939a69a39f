"""Issue 25 (items 1, 2): calibration measures and maps, and the one
versioned decision file (thresholds + calibration) applied everywhere."""
import csv
import json
import math

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import (average_precision_score, brier_score_loss,
                             roc_auc_score)

from ldr_mm.evaluation import (ThresholdFileError, choose_thresholds,
                               decide_samples, fixed_decisions,
                               load_decision_file, load_thresholds,
                               save_thresholds)
from ldr_mm.evaluation.calibration import (METHODS, apply_calibration,
                                           brier_per_class, ece_equal_mass,
                                           ece_equal_width, fit_calibration,
                                           reliability_bins)
from ldr_mm.evaluation.clinical import co_confusion

# two classes, 5 rows; row 4 is masked (-1) in both classes: if it were
# counted, every value below would differ
HAND_P = np.array([[0.1, 0.3], [0.2, 0.45], [0.6, 0.55], [0.9, 0.8],
                   [0.95, 0.05]])
HAND_Y = np.array([[0, 0], [1, 1], [1, 0], [1, 1], [-1, -1]])


def test_ece_and_brier_by_hand():
    """Class 0, B=2 equal-mass bins {0.1, 0.2}, {0.6, 0.9}:
    0.5 * |0.5 - 0.15| + 0.5 * |1 - 0.75| = 0.3; class 1: {0.3, 0.45},
    {0.55, 0.8}: 0.5 * |0.5 - 0.375| + 0.5 * |0.5 - 0.675| = 0.15.
    Equal-width, B=4 (edges 0.25, 0.5, 0.75): class 0: (0, .25] {0.1, 0.2},
    (.5, .75] {0.6}, (.75, 1] {0.9}: 0.5*0.35 + 0.25*0.4 + 0.25*0.1 = 0.3;
    class 1: {0.3, 0.45}, {0.55}, {0.8}: 0.0625 + 0.1375 + 0.05 = 0.25.
    Brier class 0: (0.01 + 0.64 + 0.16 + 0.01) / 4 = 0.205; class 1:
    (0.09 + 0.3025 + 0.3025 + 0.04) / 4 = 0.18375."""
    np.testing.assert_allclose(ece_equal_mass(HAND_P, HAND_Y, 2),
                               [0.3, 0.15], atol=1e-12)
    np.testing.assert_allclose(ece_equal_width(HAND_P, HAND_Y, 4),
                               [0.3, 0.25], atol=1e-12)
    np.testing.assert_allclose(brier_per_class(HAND_P, HAND_Y),
                               [0.205, 0.18375], atol=1e-12)
    x, y, n = reliability_bins(HAND_P, HAND_Y, 1, 2)
    np.testing.assert_allclose(x, [0.375, 0.675])
    np.testing.assert_allclose(y, [0.5, 0.5])
    assert n.tolist() == [2, 2]


def _random_set(seed=0, n=200, c=3, masked=0.1):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < 0.35).astype(int)
    z = 2.5 * (y - 0.4) + rng.normal(size=(n, c))
    p = 1 / (1 + np.exp(-1.8 * z))  # over-confident: miscalibrated
    y[rng.random((n, c)) < masked] = -1
    return p, y


def test_measures_equal_sklearn():
    """ECE (both binnings) and Brier against scikit-learn's
    calibration_curve / brier_score_loss, per class on its known rows."""
    p, y = _random_set()
    B = 8
    mass = ece_equal_mass(p, y, B)
    width = ece_equal_width(p, y, B)
    brier = brier_per_class(p, y)
    for c in range(p.shape[1]):
        k = y[:, c] >= 0
        pc, yc = p[k, c][:B * (k.sum() // B)], y[k, c][:B * (k.sum() // B)]
        # equal mass: N divisible by B, distinct scores -> N / B per bin
        t, m = calibration_curve(yc, pc, n_bins=B, strategy='quantile')
        assert len(t) == B
        np.testing.assert_allclose(
            ece_equal_mass(pc[:, None], yc[:, None], B)[0],
            np.mean(np.abs(t - m)), atol=1e-6)
        t, m = calibration_curve(y[k, c], p[k, c], n_bins=B,
                                 strategy='uniform')
        counts = np.histogram(p[k, c], bins=B, range=(0, 1))[0]
        counts = counts[counts > 0]
        np.testing.assert_allclose(
            width[c], np.sum(counts / k.sum() * np.abs(t - m)), atol=1e-6)
        np.testing.assert_allclose(brier[c],
                                   brier_score_loss(y[k, c], p[k, c]),
                                   atol=1e-6)
        assert not math.isnan(mass[c])


@pytest.mark.parametrize('method', METHODS)
def test_maps_keep_auc_ap_and_lower_ece(method):
    """Fitted on one set, applied to a held-out one: every class's AUC / AP
    unchanged to 1e-6 (strictly increasing maps, ties included), mean ECE
    lower on the held-out set."""
    val_p, val_y = _random_set(1, n=600)
    test_p, test_y = _random_set(2, n=600)
    test_p[:5] = test_p[5:10]  # ties stay ties, no new ones
    maps = fit_calibration(val_p, val_y, method, ['a', 'b', 'c'])
    assert [m['method'] for m in maps] == [method] * 3
    cal = apply_calibration(test_p, maps)
    assert cal.min() >= 0 and cal.max() <= 1
    for c in range(3):
        k = test_y[:, c] >= 0
        for fn in (roc_auc_score, average_precision_score):
            assert abs(fn(test_y[k, c], test_p[k, c]) -
                       fn(test_y[k, c], cal[k, c])) < 1e-6
    assert np.nanmean(ece_equal_mass(cal, test_y, 10)) < \
        np.nanmean(ece_equal_mass(test_p, test_y, 10))


def test_unfittable_class_keeps_identity():
    p, y = _random_set(3)
    y[:, 1] = np.where(y[:, 1] >= 0, 0, -1)  # no positives
    maps = fit_calibration(p, y, 'platt')
    assert maps[1]['method'] == 'identity'
    # the model's float32 scores, unchanged
    np.testing.assert_array_equal(apply_calibration(p, maps)[:, 1],
                                  p[:, 1].astype(np.float32))


def test_decision_file_versions_and_refusals(tmp_path):
    p, y = _random_set(4)
    classes = ['a', 'b', 'c']
    maps = fit_calibration(p, y, 'temperature', classes)
    path = str(tmp_path / 'dec.json')
    save_thresholds(path, classes, [0.3, 0.4, 0.5], 'f1', calibration=maps)
    data = json.load(open(path))
    assert data['version'] == 2 and data['calibration'][0]['class'] == 'a'
    dec = load_decision_file(path, classes)
    np.testing.assert_allclose(dec.calibrate(p), apply_calibration(p, maps))
    np.testing.assert_array_equal(
        dec.decide(p), apply_calibration(p, maps) >= [0.3, 0.4, 0.5])
    # a version-1 file (before calibration) still reads, uncalibrated
    v1 = dict(format='ldr_mm.thresholds', version=1, criterion='f1',
              classes=classes, thresholds=[0.3, 0.4, 0.5])
    (tmp_path / 'v1.json').write_text(json.dumps(v1))
    old = load_decision_file(str(tmp_path / 'v1.json'), classes)
    assert old.version == 1 and old.calibration is None
    np.testing.assert_array_equal(old.calibrate(p), p)  # as given
    # other classes, order included: refused, naming file and classes
    with pytest.raises(ThresholdFileError, match=r'dec\.json.*same names '
                       r'in another order'):
        load_decision_file(path, ['b', 'a', 'c'])
    with pytest.raises(ThresholdFileError, match=r"only in the model: "
                       r"\['d'\]"):
        load_thresholds(path, ['a', 'b', 'd'])
    bad = dict(data, version=3)
    (tmp_path / 'v3.json').write_text(json.dumps(bad))
    with pytest.raises(ThresholdFileError, match=r'v3\.json.*version 3'):
        load_decision_file(str(tmp_path / 'v3.json'))
    bad = dict(data, calibration=[dict(m) for m in maps])
    bad['calibration'][1] = {'class': 'b', 'method': 'platt', 'a': -1,
                             'b': 0}
    (tmp_path / 'neg.json').write_text(json.dumps(bad))
    with pytest.raises(ThresholdFileError, match=r"class 'b'.*monotone"):
        load_decision_file(str(tmp_path / 'neg.json'))


def test_decide_samples_and_model_wrapper(tmp_path):
    """The inferencer's and tools/test.py's path: calibrated pred_score,
    pred_label at the thresholds, raw scores kept; tools/test.py's wrapper
    hands the hooks (--show-dir) the decided samples."""
    from inference_helpers import load_tool
    from mmpretrain.structures import DataSample
    classes = ['a', 'b', 'c']
    p, y = _random_set(5, n=50)
    maps = fit_calibration(p, y, 'platt', classes)
    path = str(tmp_path / 'dec.json')
    save_thresholds(path, classes, [0.2, 0.5, 0.7], 'f1', calibration=maps)
    raw = torch.tensor(p[:4], dtype=torch.float32)

    class Model(torch.nn.Module):
        def test_step(self, data):
            return [DataSample().set_pred_score(s) for s in raw]

    model = Model()
    dec = load_tool('test.py').install_decisions(model, path, classes)
    samples = model.test_step(None)
    cal = apply_calibration(raw.double().numpy(), maps)
    for s, q in zip(samples, cal):
        np.testing.assert_allclose(s.pred_score.numpy(), q)
        assert s.pred_label.tolist() == np.flatnonzero(
            q >= dec.thresholds).tolist()
        assert s.uncalibrated_score.dtype == torch.float32
    # the dump keeps the model's own scores
    from ldr_mm.evaluation import MultiLabelScoreDump
    dump = MultiLabelScoreDump(str(tmp_path / 's.csv'))
    dump.process(None, [s.to_dict() for s in samples])
    np.testing.assert_array_equal(dump.results[0][1], raw[0].numpy())
    # fixed thresholds: no calibration, the head's rule
    plain = [DataSample().set_pred_score(s) for s in raw]
    decide_samples(plain, fixed_decisions(0.5, classes))
    assert plain[0].pred_label.tolist() == torch.where(
        raw[0] >= 0.5)[0].tolist()


def _write_scores(path, classes, p, y):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['img_path'] + [f'score/{c}' for c in classes] +
                   [f'gt/{c}' for c in classes])
        for i, (ps, ys) in enumerate(zip(p.astype(np.float32), y)):
            w.writerow([f'img{i}.png'] + [str(v) for v in ps] +
                       ['' if v < 0 else int(v) for v in ys])


def test_choose_tool_calibrates_then_confusion_tool_applies(tmp_path,
                                                             capsys):
    from inference_helpers import load_tool
    from ldr_mm.evaluation import read_score_file
    classes = ['a', 'b', 'c']
    p, y = _random_set(6, n=300)
    val = str(tmp_path / 'val.csv')
    _write_scores(val, classes, p, y)
    out = str(tmp_path / 'dec.json')
    load_tool('misc/choose_thresholds.py').main(
        ['--scores', val, '--calibration', 'platt', '--out', out])
    assert 'platt calibration fitted on 300 images' in \
        capsys.readouterr().out
    sf = read_score_file(val)
    maps = fit_calibration(sf.scores, sf.gt, 'platt', classes)
    dec = load_decision_file(out, classes)
    assert dec.calibration == maps
    ref = choose_thresholds(apply_calibration(sf.scores, maps), sf.gt, 'f1')
    np.testing.assert_allclose(dec.thresholds, ref['thresholds'])
    res = load_tool('analysis_tools/confusion_matrix.py').main(
        [val, '--thresholds', out, '--out-dir', str(tmp_path / 'conf')])
    np.testing.assert_array_equal(
        res['co_confusion'],
        co_confusion(dec.calibrate(sf.scores), sf.gt, dec.thresholds))
    assert 'calibrated by the file' in capsys.readouterr().out


def test_calibration_metric_keys():
    from ldr_mm.evaluation import MultiLabelCalibration
    p, y = _random_set(7, n=80)
    metric = MultiLabelCalibration(num_bins=5)
    metric.dataset_meta = dict(classes=['a', 'b', 'c'],
                               head_classes=['a'], tail_classes=['b', 'c'])
    out = metric.compute_metrics([(p[i], y[i]) for i in range(len(p))])
    ece = ece_equal_mass(p, y, 5)
    assert out['ece/class/b'] == pytest.approx(ece[1])
    assert out['ece/mean'] == pytest.approx(ece.mean())
    assert out['ece/tail'] == pytest.approx(ece[1:].mean())
    assert out['cw_ece/mean'] == pytest.approx(
        ece_equal_width(p, y, 5).mean())
    assert out['brier/class/a'] == pytest.approx(
        brier_per_class(p, y)[0])


@pytest.mark.slow
def test_test_tool_applies_the_decision_file(tmp_path, capsys):
    """tools/test.py with a calibrating decision file on a tiny trained
    model: calibration and clinical reports equal the functions applied to
    the calibrated --out scores, AUC / mAP equal the uncalibrated ones to
    1e-6, reliability diagrams written; the inferencer gives the same
    calibrated scores and decisions."""
    from inference_helpers import load_tool, make_tiny_run
    from ldr_mm.apis import MultiLabelInferencer
    from ldr_mm.evaluation import (average_precision_per_class,
                                   read_score_file, roc_auc_per_class)
    from ldr_mm.evaluation.clinical import threshold_metrics
    run = make_tiny_run(str(tmp_path / 'run'))
    test_tool = load_tool('test.py')
    val = str(tmp_path / 'val.json')
    test_tool.main([run.config, run.checkpoint, '--split', 'val', '--out',
                    val, '--bootstrap', '0'])
    dec_file = str(tmp_path / 'dec.json')
    load_tool('misc/choose_thresholds.py').main(
        ['--scores', val, '--calibration', 'temperature', '--out',
         dec_file])
    out = str(tmp_path / 'test.json')
    plain = test_tool.main([run.config, run.checkpoint, '--bootstrap', '0'])
    metrics = test_tool.main([
        run.config, run.checkpoint, '--out', out, '--thresholds', dec_file,
        '--bootstrap', '0', '--curves-dir', str(tmp_path / 'curves'),
        '--calibration-bins', '4', '--show-dir', str(tmp_path / 'vis')])
    assert 'Calibration (scores calibrated by' in capsys.readouterr().out
    sf = read_score_file(out)
    dec = load_decision_file(dec_file, sf.classes)
    cal = dec.calibrate(sf.scores)
    ece = ece_equal_mass(cal, sf.gt, 4)
    ops = threshold_metrics(cal, sf.gt, dec.thresholds)
    auc = roc_auc_per_class(sf.scores, sf.gt)
    ap = average_precision_per_class(sf.scores, sf.gt)
    for i, c in enumerate(sf.classes):
        v = metrics[f'calibration/ece/class/{c}']
        assert (math.isnan(v) and math.isnan(ece[i])) or \
            v == pytest.approx(ece[i], abs=1e-9)
        s = metrics[f'clinical/sens/class/{c}']
        assert (math.isnan(s) and math.isnan(ops['sens'][i])) or \
            s == pytest.approx(ops['sens'][i])
        for key, ref in (('auc', auc), ('mAP', ap)):
            a, b = metrics[f'{key}/class/{c}'], plain[f'{key}/class/{c}']
            assert (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-6
    assert (tmp_path / 'curves' / 'reliability.png').stat().st_size > 10_000
    assert len(list((tmp_path / 'vis').rglob('*.png'))) == len(sf.img_paths)
    inf = MultiLabelInferencer(run.config, run.checkpoint, device='cpu',
                               thresholds=dec_file)
    res = inf(sf.img_paths[:3])
    for r, q in zip(res, cal[:3]):
        np.testing.assert_allclose(r['pred_scores'], q, rtol=1e-5)
        assert list(r['pred_label']) == np.flatnonzero(
            q >= dec.thresholds).tolist()
    # the suite script's --make-val on a suite-like run dir
    import importlib.util
    import shutil
    from conftest import REPO
    d = tmp_path / 'suite' / 'tiny' / 'seed0'
    d.mkdir(parents=True)
    shutil.copy(run.config, d / 'tiny.py')
    shutil.copy(out, d / 'test_scores.json')
    (d / 'run.json').write_text(json.dumps(dict(checkpoint=run.checkpoint)))
    spec = importlib.util.spec_from_file_location(
        'cal_suite', f'{REPO}/benchmarks/calibration_on_suite.py')
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    res = suite.main(['--work-dir', str(tmp_path / 'suite'), '--make-val',
                      '--methods', 'temperature', '--bins', '4'])
    np.testing.assert_allclose(read_score_file(str(
        d / 'val_scores.json')).scores, read_score_file(val).scores)
    assert res['tiny'][0]['temperature']['max_auc_change'] < 1e-6


def _write_json_scores(path, classes, p, y):
    gt = [[None if v < 0 else int(v) for v in row] for row in y]
    with open(path, 'w') as f:
        json.dump(dict(classes=classes,
                       img_path=[f'i{k}.png' for k in range(len(p))],
                       scores=p.astype(np.float32).tolist(), gt=gt), f)


def test_calibration_on_suite_script(tmp_path, capsys):
    """benchmarks/calibration_on_suite.py on a synthetic suite work dir:
    before / after equal the functions, ECE goes down, AUC / AP kept."""
    import importlib.util
    from conftest import REPO
    spec = importlib.util.spec_from_file_location(
        'cal_suite', f'{REPO}/benchmarks/calibration_on_suite.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    classes = ['a', 'b', 'c']
    for k, name in enumerate(['bce_r18_demo', 'ldr_r18_demo_stage2']):
        for seed in (0, 1):
            d = tmp_path / name / f'seed{seed}'
            d.mkdir(parents=True)
            (d / 'run.json').write_text('{"checkpoint": "x.pth"}')
            _write_json_scores(d / 'val_scores.json', classes,
                               *_random_set(10 * k + seed, n=400))
            _write_json_scores(d / 'test_scores.json', classes,
                               *_random_set(100 + 10 * k + seed, n=400))
    out = str(tmp_path / 'cal.md')
    res = tool.main(['--work-dir', str(tmp_path), '--bins', '10', '--out',
                     out])
    assert set(res) == {'bce_r18_demo', 'ldr_r18_demo_stage2'}
    from ldr_mm.evaluation import read_score_file
    sf = read_score_file(str(tmp_path / 'bce_r18_demo' / 'seed1' /
                             'test_scores.json'))
    r = res['bce_r18_demo'][1]
    assert r['before']['ece'] == pytest.approx(
        np.nanmean(ece_equal_mass(sf.scores, sf.gt, 10)))
    for m in METHODS:
        assert r[m]['ece'] < r['before']['ece']
        assert r[m]['max_auc_change'] < 1e-6
        assert r[m]['max_ap_change'] < 1e-6
    text = open(out).read()
    assert '| bce_r18_demo | 2 |' in text and 'ece platt' in text
    assert json.load(open(str(tmp_path / 'cal.json')))['bins'] == 10
    (tmp_path / 'bce_r18_demo' / 'seed0' / 'val_scores.json').unlink()
    with pytest.raises(SystemExit, match='no val_scores.json.*--make-val'):
        tool.main(['--work-dir', str(tmp_path)])


def test_calibration_report_follows_the_patient_aggregation():
    """ODIR-5K configs score per patient: the calibration report too."""
    import os.path as osp

    from mmengine.config import Config

    from conftest import REPO
    from inference_helpers import load_tool
    test_tool = load_tool('test.py')
    cfg_path = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r50_odir_stage1.py')
    args = test_tool.parse_args([cfg_path, 'ckpt.pth', '--calibration-bins',
                                 '7'])
    cfg = test_tool.merge_args(Config.fromfile(cfg_path), args)
    test_tool.apply_report_args(cfg, args)
    calib = [m for m in cfg.test_evaluator
             if m['type'] == 'MultiLabelCalibration']
    assert len(calib) == 1 and calib[0]['num_bins'] == 7
    assert calib[0]['aggregate_by'] == 'patient_id'
    with pytest.raises(SystemExit):
        test_tool.parse_args([cfg_path, 'ckpt.pth', '--calibration-bins',
                              '0'])


def test_calibration_layer_matches_and_traces():
    """The traceable module (for export) equals apply_calibration on the
    sigmoid of the logits, for a file mixing every method."""
    from ldr_mm.evaluation.calibration import CalibrationLayer
    p, y = _random_set(8, n=400, c=4)
    maps = [fit_calibration(p, y, m)[i] for i, m in enumerate(
        ['temperature', 'platt', 'isotonic', 'isotonic'])]
    maps[3] = dict(method='identity', reason='test')
    logits = torch.randn(64, 4) * 3
    layer = CalibrationLayer(maps)
    ref = apply_calibration(torch.sigmoid(logits).numpy(), maps)
    np.testing.assert_allclose(layer(logits).numpy(), ref, atol=1e-6)
    batch = torch.export.Dim('batch', min=1)
    exported = torch.export.export(layer, (logits[:2], ),
                                   dynamic_shapes=({0: batch}, ))
    np.testing.assert_allclose(exported.module()(logits).numpy(), ref,
                               atol=1e-6)
    plain = CalibrationLayer(None, num_classes=4)
    torch.testing.assert_close(plain(logits), torch.sigmoid(logits))
