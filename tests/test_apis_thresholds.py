"""Threshold selection (F1 / Youden's J), threshold files, score files."""
import json

import numpy as np
import pytest

from ldr_mm.evaluation import (ScoreFileError, ThresholdFileError,
                               choose_thresholds, load_thresholds,
                               read_score_file, resolve_thresholds,
                               save_thresholds)


def brute_force(scores, targets, criterion):
    """Best criterion value over every cut 'score >= s' (s a data score)."""
    best = []
    for c in range(scores.shape[1]):
        s, t = scores[:, c], targets[:, c]
        vals = []
        for cut in np.unique(s):
            pred = s >= cut
            tp = (pred & (t == 1)).sum()
            fp = (pred & (t == 0)).sum()
            fn = (~pred & (t == 1)).sum()
            tn = (~pred & (t == 0)).sum()
            vals.append(2 * tp / (2 * tp + fp + fn) if criterion == 'f1'
                        else tp / (tp + fn) - fp / (fp + tn))
        best.append(max(vals))
    return np.array(best)


def value_at(scores, targets, thr, criterion):
    pred = scores >= thr
    tp = (pred & (targets == 1)).sum(0)
    fp = (pred & (targets == 0)).sum(0)
    fn = (~pred & (targets == 1)).sum(0)
    tn = (~pred & (targets == 0)).sum(0)
    if criterion == 'f1':
        return 2 * tp / (2 * tp + fp + fn)
    return tp / (tp + fn) - fp / (fp + tn)


@pytest.mark.parametrize('criterion', ['f1', 'youden'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_choice_reaches_the_brute_force_optimum(criterion, seed):
    rng = np.random.default_rng(seed)
    N, C = 60, 5
    targets = (rng.random((N, C)) < np.linspace(0.05, 0.5, C)).astype(int)
    targets[0] = 1  # every class has a positive
    targets[1] = 0  # and a negative
    scores = np.clip(0.3 * targets + rng.random((N, C)) * 0.7, 0, 1)
    scores[:, 2] = np.round(scores[:, 2], 1)  # many ties in one class
    out = choose_thresholds(scores, targets, criterion)
    thr = np.array(out['thresholds'])
    best = brute_force(scores, targets, criterion)
    np.testing.assert_allclose(out['values'], best, atol=1e-12)
    # applying the saved thresholds reproduces the optimum
    np.testing.assert_allclose(value_at(scores, targets, thr, criterion),
                               best, atol=1e-12)
    assert not any(out['fallback'])
    # thresholds are not on a data point unless it is the lowest score
    for c in range(C):
        if thr[c] > scores[:, c].min():
            assert not np.isclose(scores[:, c], thr[c]).any()


def test_midpoint_and_tie_break():
    scores = np.array([[0.9], [0.8], [0.4], [0.1]])
    targets = np.array([[1], [1], [0], [0]])
    out = choose_thresholds(scores, targets, 'f1')
    # cut between 0.8 (last positive) and 0.4 (first negative)
    assert out['thresholds'] == [pytest.approx(0.6)]
    assert out['values'] == [1.0]
    # Youden: the same separation
    assert choose_thresholds(scores, targets, 'youden')['thresholds'] == [
        pytest.approx(0.6)]


def test_classes_without_both_labels_fall_back():
    scores = np.array([[0.9, 0.2], [0.1, 0.3], [0.5, 0.7]])
    targets = np.array([[1, 0], [0, 0], [1, 0]])
    with pytest.warns(UserWarning, match=r"\['b'\].*keep the threshold 0.3"):
        out = choose_thresholds(scores, targets, 'youden',
                                classes=['a', 'b'], default=0.3)
    assert out['fallback'] == [False, True]
    assert out['thresholds'][1] == 0.3
    assert np.isnan(out['values'][1])


def test_bad_inputs():
    with pytest.raises(ValueError, match='criterion'):
        choose_thresholds(np.zeros((2, 1)), np.zeros((2, 1)), 'acc')
    with pytest.raises(ValueError, match=r'1, 0 or -1 \(masked\)'):
        choose_thresholds(np.zeros((2, 1)), 2 * np.ones((2, 1)), 'f1')
    with pytest.raises(ValueError, match=r'must both be \(N, C\)'):
        choose_thresholds(np.zeros((2, 2)), np.zeros((2, 1)), 'f1')


def test_threshold_file_round_trip_and_errors(tmp_path):
    path = str(tmp_path / 'thr.json')
    save_thresholds(path, ['a', 'b'], [0.25, 0.75], 'f1', source='x.csv',
                    values=[0.5, float('nan')], positives=[3, 0],
                    negatives=[5, 8], fallback=[False, True])
    data = json.load(open(path))
    assert data['criterion'] == 'f1' and data['source'] == 'x.csv'
    assert data['per_class'][1] == {'class': 'b', 'threshold': 0.75,
                                    'value': None, 'positives': 0,
                                    'negatives': 8, 'fallback': True}
    assert load_thresholds(path, ['a', 'b']) == [0.25, 0.75]
    with pytest.raises(ThresholdFileError, match='same names in another '
                       'order'):
        load_thresholds(path, ['b', 'a'])
    with pytest.raises(ThresholdFileError, match='does not exist'):
        load_thresholds(str(tmp_path / 'none.json'))
    (tmp_path / 'other.json').write_text('{"classes": ["a"]}')
    with pytest.raises(ThresholdFileError, match='not an ldr_mm thresholds'):
        load_thresholds(str(tmp_path / 'other.json'))
    data['thresholds'][0] = 1.5
    (tmp_path / 'bad.json').write_text(json.dumps(data))
    with pytest.raises(ThresholdFileError, match=r"\['a'\] are not in"):
        load_thresholds(str(tmp_path / 'bad.json'))
    np.testing.assert_allclose(resolve_thresholds(path, ['a', 'b']),
                               [0.25, 0.75])
    np.testing.assert_allclose(resolve_thresholds(None, ['a', 'b'],
                                                  fallback=0.4), [0.4, 0.4])
    with pytest.raises(ValueError, match='3 thresholds for 2'):
        resolve_thresholds([0.1, 0.2, 0.3], ['a', 'b'])
    with pytest.raises(ValueError, match=r"missing classes \['b'\]"):
        resolve_thresholds({'a': 0.1}, ['a', 'b'], partial=False)
    # a partial dict: omitted classes keep the default, and it says so
    with pytest.warns(UserWarning, match=r"\['b', 'c'\] keep the default "
                      r"threshold 0.4"):
        thr = resolve_thresholds({'a': 0.1}, ['a', 'b', 'c'], fallback=0.4)
    np.testing.assert_allclose(thr, [0.1, 0.4, 0.4])
    with pytest.warns(UserWarning, match=r"\['a'\] keep the default "
                      r"threshold 0.5"):
        thr = resolve_thresholds({'b': 0.2}, ['a', 'b'])
    np.testing.assert_allclose(thr, [0.5, 0.2])
    with pytest.raises(ValueError, match=r"unknown classes \['z'\]"):
        resolve_thresholds({'z': 0.1}, ['a', 'b'])


def test_score_file_reader(tmp_path):
    csv_path = tmp_path / 's.csv'
    csv_path.write_text('img_path,score/a,score/b,gt/a,gt/b\n'
                        'x.png,0.25,0.5,1,0\ny.png,0.75,0.125,0,1\n')
    sf = read_score_file(str(csv_path))
    assert sf.classes == ['a', 'b'] and sf.img_paths == ['x.png', 'y.png']
    np.testing.assert_array_equal(sf.scores, [[0.25, 0.5], [0.75, 0.125]])
    np.testing.assert_array_equal(sf.gt, [[1, 0], [0, 1]])
    js = tmp_path / 's.json'
    js.write_text(json.dumps(dict(classes=['a', 'b'], img_path=['x.png'],
                                  scores=[[0.1, 0.2]], gt=[[0, 1]])))
    assert read_score_file(str(js)).scores.shape == (1, 2)
    bad = tmp_path / 'bad.csv'
    bad.write_text('img_path,score/a,gt/a\nx.png,0.5,1\ny.png,oops,0\n')
    with pytest.raises(ScoreFileError, match='bad.csv" line 3'):
        read_score_file(str(bad))
    bad.write_text('img_path,score/a,gt/b\nx.png,0.5,1\n')
    with pytest.raises(ScoreFileError, match='same classes'):
        read_score_file(str(bad))
    bad.write_text('path,score/a,gt/a\n')
    with pytest.raises(ScoreFileError, match='first column'):
        read_score_file(str(bad))
    with pytest.raises(FileNotFoundError):
        read_score_file(str(tmp_path / 'nope.csv'))
