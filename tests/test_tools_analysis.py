"""tools/analysis_tools/* on a tiny trained checkpoint and constructed
statistics files: PNGs of the expected size with real content, and the
numbers behind them."""
import csv
import json
import os.path as osp

import numpy as np
import pytest
import torch

from inference_helpers import SPLITS, load_tool, make_tiny_run, png_stats

dist_tool = load_tool('analysis_tools/label_distribution.py')
pc_tool = load_tool('analysis_tools/per_class_metrics.py')
wn_tool = load_tool('analysis_tools/weight_norms.py')
gs_tool = load_tool('analysis_tools/gaussian_stats.py')
test_tool = load_tool('test.py')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    return make_tiny_run(str(tmp_path_factory.mktemp('tools_analysis')))


@pytest.fixture(scope='module')
def test_scores(run):
    out = osp.join(run.work_dir, 'test_scores.csv')
    test_tool.main([run.config, run.checkpoint, '--out', out])
    return out


def assert_png(path, size, min_std=5.0, min_colours=50):
    H, W, std, colours = png_stats(path)
    assert (W, H) == size
    assert std > min_std and colours > min_colours, (std, colours)
    assert osp.getsize(path) < 200_000


@pytest.mark.parametrize('tool', [dist_tool, pc_tool, wn_tool, gs_tool])
def test_help(tool, capsys):
    with pytest.raises(SystemExit) as e:
        tool.parse_args(['--help'])
    assert e.value.code == 0
    assert 'usage:' in capsys.readouterr().out


def test_label_distribution(run, tmp_path, capsys):
    res = dist_tool.main([run.config, '--split', 'train', '--out-dir',
                          str(tmp_path)])
    ann = json.load(open(osp.join(run.root, 'train.json')))
    expected = np.zeros(10, int)
    for item in ann['data_list']:
        expected[item['gt_label']] += 1
    np.testing.assert_array_equal(res['labels'].counts, expected)
    assert res['labels'].labels.shape == (SPLITS['train'], 10)
    co = dist_tool.cooccurrence(res['labels'].labels)
    np.testing.assert_array_equal(np.diag(co), expected)
    assert (co == co.T).all()
    assert_png(res['distribution'], (650, 420))
    assert_png(res['cooccurrence'], (800, 700))
    assert osp.basename(res['distribution']) == \
        'label_distribution_train.png'
    text = capsys.readouterr().out
    assert 'opacity' in text and 'head' in text
    res = dist_tool.main([run.config, '--split', 'test', '--out-dir',
                          str(tmp_path), '--normalize', 'none'])
    assert res['labels'].labels.shape[0] == SPLITS['test']


def test_per_class_metrics(run, test_scores, tmp_path):
    from ldr_mm.evaluation import ScoreFileError, read_score_file
    from ldr_mm.evaluation.functional import (average_precision_per_class,
                                              roc_auc_per_class)
    sf = read_score_file(test_scores)
    # a second "model": the same images with other scores
    rng = np.random.default_rng(0)
    other = str(tmp_path / 'other.csv')
    with open(other, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['img_path'] + [f'score/{c}' for c in sf.classes] +
                   [f'gt/{c}' for c in sf.classes])
        for p, g in zip(sf.img_paths, sf.gt):
            w.writerow([p] + list(np.round(0.6 * g + 0.4 * rng.random(10),
                                           4)) + list(g))
    out_csv = str(tmp_path / 'values.csv')
    res = pc_tool.main([test_scores, other, '--labels', 'model', 'other',
                        '--config', run.config, '--out',
                        str(tmp_path / 'pc.png'), '--out-csv', out_csv])
    np.testing.assert_allclose(res['auc'][0],
                               roc_auc_per_class(sf.scores, sf.gt))
    np.testing.assert_allclose(res['ap'][0],
                               average_precision_per_class(sf.scores, sf.gt))
    assert np.nanmean(res['auc'][1]) > np.nanmean(res['auc'][0])
    # frequency from the training split (config)
    ann = json.load(open(osp.join(run.root, 'train.json')))
    freq = np.zeros(10, int)
    for item in ann['data_list']:
        freq[item['gt_label']] += 1
    np.testing.assert_array_equal(res['freq'], freq)
    assert_png(res['path'], (800, 750))
    rows = list(csv.DictReader(open(out_csv)))
    assert len(rows) == 10
    assert list(rows[0])[:3] == ['class', 'group', 'freq']
    by_class = {r['class']: r for r in rows}
    assert float(by_class['ring']['AUC model']) == pytest.approx(
        res['auc'][0][sf.classes.index('ring')])

    # mismatched class lists are refused, naming both files
    bad = str(tmp_path / 'bad.csv')
    with open(bad, 'w') as f:
        f.write('img_path,score/a,gt/a\nx.png,0.5,1\ny.png,0.2,0\n')
    with pytest.raises(ScoreFileError, match=r'bad.csv" has the classes '
                       r"\['a'\]"):
        pc_tool.main([test_scores, bad, '--out', str(tmp_path / 'x.png')])
    # same images with different labels are refused
    flipped = str(tmp_path / 'flipped.json')
    json.dump(dict(classes=sf.classes, img_path=sf.img_paths,
                   scores=sf.scores.tolist(), gt=(1 - sf.gt).tolist()),
              open(flipped, 'w'))
    with pytest.raises(ScoreFileError, match='different labels'):
        pc_tool.main([test_scores, flipped, '--out',
                      str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit):
        pc_tool.parse_args([test_scores, '--labels', 'a', 'b'])


def test_weight_norms(run, tmp_path, capsys):
    ckpt = torch.load(run.checkpoint, weights_only=True)
    w = ckpt['state_dict']['head.weight'].double()
    # a "rebalanced" copy: tail rows scaled up, stored as an MMPretrain
    # linear head (head.fc.weight)
    scaled = ckpt['state_dict']['head.weight'].clone()
    scaled[4:] *= 3
    sd2 = {('head.fc.weight' if k == 'head.weight' else
            'head.fc.bias' if k == 'head.bias' else k): v
           for k, v in ckpt['state_dict'].items()}
    sd2['head.fc.weight'] = scaled
    second = str(tmp_path / 'second.pth')
    torch.save(dict(meta=ckpt['meta'], state_dict=sd2), second)
    res = wn_tool.main([run.checkpoint, second, '--labels', 'a', 'b',
                        '--config', run.config, '--out',
                        str(tmp_path / 'wn.png')])
    np.testing.assert_allclose(res['norms'][0], w.norm(dim=1).numpy())
    np.testing.assert_allclose(res['norms'][1][4:],
                               3 * w.norm(dim=1).numpy()[4:], rtol=1e-6)
    head = w.norm(dim=1)[:4].mean().item()
    tail = w.norm(dim=1)[4:].mean().item()
    assert res['ratios'][0] == pytest.approx(head / tail)
    assert res['ratios'][1] == pytest.approx(head / (3 * tail))
    assert 'mean head norm / mean tail norm' in capsys.readouterr().out
    assert_png(res['path'], (750, 420))
    # --normalize: mean 1 per checkpoint (checked through the tool)
    wn_tool.main([run.checkpoint, '--normalize', '--out',
                  str(tmp_path / 'wn2.png')])
    assert_png(str(tmp_path / 'wn2.png'), (750, 420))
    # a checkpoint without a supported classifier weight
    sd3 = {k: v for k, v in ckpt['state_dict'].items()
           if not k.startswith('head.')}
    sd3['head.layers.0.weight'] = torch.zeros(3, 3)
    third = str(tmp_path / 'third.pth')
    torch.save(dict(state_dict=sd3), third)
    with pytest.raises(KeyError, match=r"third.pth\" has no classifier "
                       r"weight.*head.layers.0.weight"):
        wn_tool.main([third, '--out', str(tmp_path / 'x.png')])
    # checkpoints of different class lists
    meta = dict(ckpt['meta'])
    meta['dataset_meta'] = dict(meta['dataset_meta'],
                                classes=[f'c{i}' for i in range(10)])
    fourth = str(tmp_path / 'fourth.pth')
    torch.save(dict(meta=meta, state_dict=ckpt['state_dict']), fourth)
    with pytest.raises(ValueError, match='was trained on the classes'):
        wn_tool.main([run.checkpoint, fourth, '--out',
                      str(tmp_path / 'x.png')])


def make_stats(path, cov_type='full', C=3, D=4, seed=0, n_neg_first=5):
    """A statistics file in the documented format, with known values."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(C, 2, D, generator=g, dtype=torch.float64)
    A = torch.randn(C, 2, D, D, generator=g, dtype=torch.float64)
    S = A @ A.transpose(-1, -2) / D + 0.1 * torch.eye(D, dtype=torch.float64)
    lam = torch.full((C, 2), 0.2, dtype=torch.float64)
    ridge = torch.full((C, 2), 0.01, dtype=torch.float64)
    diag_S = torch.diagonal(S, dim1=-2, dim2=-1)
    sigma = (1 - lam)[..., None, None] * S + lam[..., None, None] * \
        torch.diag_embed(diag_S) + ridge[..., None, None] * torch.eye(
            D, dtype=torch.float64)
    counts = torch.tensor([[n_neg_first, 9]] + [[20 + i, 3 + i]
                                                for i in range(C - 1)])
    valid = counts > 0
    data = dict(version=1, cov_type=cov_type,
                classes=[f'k{i}' for i in range(C)], counts=counts,
                mean=mean, shrinkage=lam, ridge=ridge, valid=valid,
                regularisation=[], extra=dict(round=0))
    if cov_type == 'full':
        data['cov'] = sigma
    else:
        data['var'] = torch.diagonal(sigma, dim1=-2, dim2=-1).clone()
        data['shrinkage'] = torch.zeros(C, 2, dtype=torch.float64)
    torch.save(data, path)
    return data, S


def test_gaussian_statistics(tmp_path, capsys):
    rec = tmp_path / 'work' / 'reconstruction'
    rec.mkdir(parents=True)
    d0, S0 = make_stats(str(rec / 'stats_round1.pth'), seed=0)
    d1, S1 = make_stats(str(rec / 'stats_round2.pth'), seed=1)
    out = tmp_path / 'out'
    res = gs_tool.main([str(tmp_path / 'work'), '--rounds', 'all',
                        '--out-dir', str(out)])
    assert len(res['stats']) == 2
    mu = d1['mean'].numpy()
    np.testing.assert_allclose(res['dist'],
                               np.linalg.norm(mu[:, 1] - mu[:, 0], axis=1))
    tr = np.trace(d1['cov'].numpy(), axis1=-2, axis2=-1).mean(1)
    np.testing.assert_allclose(res['sep'], res['dist'] / np.sqrt(tr))
    # spectra: eigenvalues of the sampled Sigma, and of S when asked
    st = res['stats'][-1]
    np.testing.assert_allclose(
        gs_tool.spectrum(st, 0, 1),
        np.linalg.eigvalsh(d1['cov'][0, 1].numpy())[::-1], rtol=1e-10)
    np.testing.assert_allclose(
        gs_tool.spectrum(st, 2, 0, unregularised=True),
        np.linalg.eigvalsh(S1[2, 0].numpy())[::-1], rtol=1e-8, atol=1e-12)
    assert_png(res['distance'], (700, 600))
    assert_png(res['spectrum'], (1000, 450))
    text = capsys.readouterr().out
    assert 'round 2' in text and 'eff. rank+' in text  # the last round

    # 'diag' files and a class without negatives (valid False)
    diag = tmp_path / 'diag.pth'
    make_stats(str(diag), cov_type='diag', n_neg_first=0)
    res = gs_tool.main([str(diag), '--out-dir', str(out)])
    assert np.isnan(res['dist'][0]) and np.isfinite(res['dist'][1:]).all()
    assert gs_tool.spectrum(res['stats'][0], 0, 0) is None
    assert_png(res['spectrum'], (1000, 450))

    # errors: no files, unknown round, wrong content
    with pytest.raises(gs_tool.StatisticsFileError, match='No stats_round'):
        gs_tool.main([str(out), '--out-dir', str(out)])
    with pytest.raises(gs_tool.StatisticsFileError,
                       match=r'Round\(s\) \[7\] not in'):
        gs_tool.main([str(tmp_path / 'work'), '--rounds', '7'])
    bad = tmp_path / 'bad.pth'
    torch.save(dict(version=1, mean=torch.zeros(2, 2, 3)), str(bad))
    with pytest.raises(gs_tool.StatisticsFileError,
                       match=r"bad.pth\" is not a stage-2 statistics file"):
        gs_tool.main([str(bad)])
    data = dict(d0)
    data['cov'] = d0['cov'][:, :, :2, :2]
    torch.save(data, str(bad))
    with pytest.raises(gs_tool.StatisticsFileError, match='cov has shape'):
        gs_tool.main([str(bad)])
