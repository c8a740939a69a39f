"""tools/infer.py, tools/misc/choose_thresholds.py and
tools/visualize_attention.py end to end on a tiny checkpoint trained in this
module."""
import csv
import glob
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest

from inference_helpers import (SIZE, load_tool, make_tiny_run, png_stats,
                               reference_scores)

infer_tool = load_tool('infer.py')
thr_tool = load_tool('misc/choose_thresholds.py')
vis_tool = load_tool('visualize_attention.py')
test_tool = load_tool('test.py')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    return make_tiny_run(str(tmp_path_factory.mktemp('tools_infer')))


@pytest.fixture(scope='module')
def val_scores(run):
    out = osp.join(run.work_dir, 'val_scores.csv')
    test_tool.main([run.config, run.checkpoint, '--split', 'val', '--out',
                    out])
    return out


@pytest.fixture(scope='module')
def thresholds(run, val_scores):
    out = osp.join(run.work_dir, 'thr_f1.json')
    thr_tool.main(['--scores', val_scores, '--criterion', 'f1', '--out', out])
    return out


@pytest.mark.parametrize('tool', [infer_tool, thr_tool, vis_tool])
def test_help(tool, capsys):
    with pytest.raises(SystemExit) as e:
        tool.parse_args(['--help'])
    assert e.value.code == 0
    assert 'usage:' in capsys.readouterr().out


def test_choose_thresholds_from_scores_and_from_the_model(
        run, val_scores, thresholds, tmp_path, capsys):
    from ldr_mm.evaluation import choose_thresholds, read_score_file
    data = json.load(open(thresholds))
    sf = read_score_file(val_scores)
    assert len(sf.img_paths) == 16
    assert data['classes'] == sf.classes and data['criterion'] == 'f1'
    expected = choose_thresholds(sf.scores, sf.gt, 'f1')
    assert data['thresholds'] == pytest.approx(expected['thresholds'])
    assert len(set(data['thresholds'])) > 1
    assert [r['positives'] for r in data['per_class']] == \
        sf.gt.sum(0).tolist()
    # running the model itself gives the same file content
    out = str(tmp_path / 'thr_model.json')
    thr_tool.main([run.config, run.checkpoint, '--criterion', 'f1', '--out',
                   out, '--work-dir', str(tmp_path / 'w')])
    assert json.load(open(out))['thresholds'] == data['thresholds']
    # Youden's J
    out_j = str(tmp_path / 'thr_j.json')
    thr_tool.main(['--scores', val_scores, '--criterion', 'youden', '--out',
                   out_j])
    assert json.load(open(out_j))['criterion'] == 'youden'
    assert 'J@thr' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        thr_tool.parse_args(['--scores', val_scores, run.config,
                             '--out', out])


def test_infer_folder_with_thresholds(run, thresholds, tmp_path, capsys):
    folder = tmp_path / 'in'
    folder.mkdir()
    paths = sorted(glob.glob(osp.join(run.root, 'images', 'test', '*.png')))
    for p in paths:
        shutil.copy(p, folder)
    (folder / 'corrupt.png').write_bytes(b'\x89PNG broken')
    out_csv, out_json = str(tmp_path / 'r.csv'), str(tmp_path / 'r.json')
    with pytest.warns(UserWarning, match='corrupt.png'):
        infer_tool.main([run.config, run.checkpoint, str(folder), '--out',
                         out_csv, out_json, '--thresholds', thresholds,
                         '--batch-size', '5', '--device', 'cpu',
                         '--no-progress'])
    text = capsys.readouterr().out
    assert f'Summary: {len(paths)} image(s) read, 1 unreadable skipped' \
        in text
    assert 'corrupt.png' in text and 'positive classes' in text

    classes = json.load(open(thresholds))['classes']
    thr = np.array(json.load(open(thresholds))['thresholds'])
    rows = list(csv.DictReader(open(out_csv)))
    assert list(rows[0]) == ['img_path'] + [f'score/{c}' for c in classes] \
        + [f'pred/{c}' for c in classes] + ['positives']
    local = [str(folder / osp.basename(p)) for p in paths]
    assert [r['img_path'] for r in rows] == local
    scores = np.array([[float(r[f'score/{c}']) for c in classes]
                       for r in rows])
    ref = reference_scores(run.config, run.checkpoint, local)
    np.testing.assert_allclose(scores, ref, rtol=1e-5, atol=1e-7)
    pred = np.array([[int(r[f'pred/{c}']) for c in classes] for r in rows])
    np.testing.assert_array_equal(pred, (ref >= thr).astype(int))
    assert pred.sum() > 0
    for r, p in zip(rows, pred):
        assert r['positives'] == ';'.join(
            c for c, v in zip(classes, p) if v)

    js = json.load(open(out_json))
    assert js['classes'] == classes and js['thresholds'] == list(thr)
    assert len(js['results']) == len(paths)
    assert js['skipped'][0]['img_path'].endswith('corrupt.png')
    first = js['results'][0]
    np.testing.assert_allclose([first['scores'][c] for c in classes],
                               ref[0], atol=1e-6)
    # the CSV's scores round-trip: the same float32 as the JSON's exact ones
    exact = np.array([[r['scores'][c] for c in classes]
                      for r in js['results']], dtype=np.float32)
    np.testing.assert_array_equal(scores.astype(np.float32), exact)
    assert any(len(r[f'score/{c}'].split('e')[0].replace('.', '').lstrip(
        '0')) > 6 for r in rows for c in classes)  # more than %.6g gives


def test_infer_errors(run, tmp_path):
    from ldr_mm.apis import UnreadableImageError
    from ldr_mm.evaluation import ThresholdFileError
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'nope')
    with pytest.raises(UnreadableImageError, match='bad.png'):
        infer_tool.main([run.config, run.checkpoint, str(bad),
                         '--no-progress'])
    thr = tmp_path / 'thr.json'
    from ldr_mm.evaluation import save_thresholds
    save_thresholds(str(thr), [f'c{i}' for i in range(10)], [0.5] * 10, 'f1')
    img = glob.glob(osp.join(run.root, 'images', 'test', '*.png'))[0]
    with pytest.raises(ThresholdFileError, match='was made for the classes'):
        infer_tool.main([run.config, run.checkpoint, img, '--thresholds',
                         str(thr)])
    with pytest.raises(SystemExit):
        infer_tool.parse_args([run.config, run.checkpoint, img, '--out',
                               'x.txt'])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(SystemExit, match='No readable image'):
        infer_tool.main([run.config, run.checkpoint, str(empty)])


def test_visualize_attention(run, tmp_path, capsys):
    paths = sorted(glob.glob(osp.join(run.root, 'images', 'test',
                                      '*.png')))[:3]
    out = tmp_path / 'att'
    res = vis_tool.main([run.config, run.checkpoint] + paths + [
        '--out-dir', str(out), '--classes', 'all', '--per-class-files',
        '--min-size', '128', '--no-progress'])
    assert 'Wrote 33 PNG file(s)' in capsys.readouterr().out
    assert len(res['written']) == 3 * 11
    for p in paths:
        stem = osp.splitext(osp.basename(p))[0]
        H, W, std, colours = png_stats(str(out / f'{stem}.png'))
        assert W == 128 * 11 and H > 128 and std > 10 and colours > 500
        for c in ('opacity', 'cavity'):
            H, W, std, colours = png_stats(str(out / stem / f'{c}.png'))
            assert (H, W) == (128, 128) and std > 10 and colours > 200
    # named classes; --min-size 0 keeps the model's input size
    out2 = tmp_path / 'att2'
    vis_tool.main([run.config, run.checkpoint, paths[0], '--out-dir',
                   str(out2), '--classes', 'ring', 'nodule', '--min-size',
                   '0', '--no-progress'])
    stem = osp.splitext(osp.basename(paths[0]))[0]
    H, W, _, _ = png_stats(str(out2 / f'{stem}.png'))
    assert W == SIZE * 3
    with pytest.raises(ValueError, match=r"Unknown class\(es\) \['lung'\]"):
        vis_tool.main([run.config, run.checkpoint, paths[0], '--out-dir',
                       str(out2), '--classes', 'lung', '--no-progress'])


def test_visualize_attention_class_name_stays_in_out_dir(run, tmp_path,
                                                         monkeypatch):
    """Issue 23.6: ``--per-class-files`` with a class named ``../../x``
    wrote ``<out-dir>/<image>/../../x.png``, outside ``--out-dir``."""
    from ldr_mm.apis import MultiLabelInferencer
    init = MultiLabelInferencer.__init__

    def renamed(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.classes[0] = '../../x'  # e.g. from a user's annotation file
    monkeypatch.setattr(MultiLabelInferencer, '__init__', renamed)
    path = sorted(glob.glob(osp.join(run.root, 'images', 'test',
                                     '*.png')))[0]
    out = tmp_path / 'a' / 'att'
    res = vis_tool.main([run.config, run.checkpoint, path, '--out-dir',
                         str(out), '--classes', '../../x', '--per-class-files',
                         '--no-progress'])
    stem = osp.splitext(osp.basename(path))[0]
    assert sorted(res['written']) == [str(out / f'{stem}.png'),
                                      str(out / stem / '___.._x.png')]
    assert not glob.glob(str(tmp_path / '**' / 'x.png'), recursive=True)
    assert os.listdir(tmp_path) == ['a'] and os.listdir(tmp_path / 'a') == [
        'att']


def test_extensionless_dicom_in_a_folder_is_read(run, tmp_path, capsys):
    """Issue 23.8: a DICOM file without extension in a folder was counted as
    "non-image file ignored" (unnamed) while the same file given directly
    was read. Now it is sniffed (``DICM`` at byte 128) and read; the files
    still ignored are named."""
    pytest.importorskip('pydicom')
    from pydicom.data import get_testdata_file
    folder = tmp_path / 'in'
    folder.mkdir()
    dcm = str(folder / '1.2.840.10008.1')  # a UID-like name, no extension
    shutil.copy(get_testdata_file('MR_small.dcm', download=False), dcm)
    plain = str(folder / 'IM0001')
    shutil.copy(get_testdata_file('CT_small.dcm', download=False), plain)
    (folder / 'notes.txt').write_text('not an image')
    (folder / 'README').write_text('x' * 200)  # no marker at byte 128
    out = str(tmp_path / 'r.json')
    res = infer_tool.main([run.config, run.checkpoint, str(folder), '--out',
                           out, '--no-progress'])
    text = capsys.readouterr().out
    assert sorted(r['name'] for r in res['results']) == [dcm, plain]
    assert sorted(res['ignored']) == [str(folder / 'README'),
                                      str(folder / 'notes.txt')]
    assert '2 image(s) read, 0 unreadable skipped, 2 non-image file(s) ' \
        'ignored' in text
    assert f'ignored {folder / "notes.txt"}: not an image extension' in text
    assert f'ignored {folder / "README"}' in text
    # the same scores as each file given by itself
    alone = infer_tool.main([run.config, run.checkpoint, dcm,
                             '--no-progress'])['results'][0]
    got = next(r for r in res['results'] if r['name'] == dcm)
    np.testing.assert_array_equal(got['pred_scores'], alone['pred_scores'])
    # with --ext limited to PNG, no file is sniffed
    with pytest.raises(SystemExit, match='No readable image'):
        infer_tool.main([run.config, run.checkpoint, str(folder), '--ext',
                         '.png', '--no-progress'])
