"""MultiLabelInferencer on a tiny checkpoint trained in this module."""
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config

from inference_helpers import (SIZE, heat_spread, make_tiny_run, png_stats,
                               reference_scores)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    return make_tiny_run(str(tmp_path_factory.mktemp('apis_inference')))


@pytest.fixture(scope='module')
def inferencer(run):
    from ldr_mm.apis import MultiLabelInferencer
    return MultiLabelInferencer(run.config, run.checkpoint, device='cpu')


def image_paths(run, split='test'):
    return sorted(glob.glob(osp.join(run.root, 'images', split, '*.png')))


def test_scores_equal_the_models_own_forward(run, inferencer):
    paths = image_paths(run)
    res = inferencer(osp.join(run.root, 'images', 'test'), batch_size=5,
                     progress=False)
    assert [r['img_path'] for r in res] == paths
    ours = np.stack([r['pred_scores'] for r in res])
    ref = reference_scores(run.config, run.checkpoint, paths)
    assert ours.shape == (len(paths), 10)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    # the scores are not all alike (the check above is not vacuous)
    assert ours.std() > 1e-3
    # batch size does not change the result
    one = np.stack([r['pred_scores'] for r in inferencer(
        paths, batch_size=1, progress=False)])
    np.testing.assert_allclose(one, ours, rtol=0, atol=1e-6)


def test_per_class_thresholds_are_applied_per_class(run, inferencer):
    from ldr_mm.apis import MultiLabelInferencer
    paths = image_paths(run)
    scores = np.stack([r['pred_scores'] for r in inferencer(
        paths, progress=False)])
    # per-class median: about half of the images positive for every class
    thr = np.median(scores, axis=0)
    assert len(set(np.round(thr, 6))) > 1  # really per class
    per_class = MultiLabelInferencer(run.config, run.checkpoint,
                                     device='cpu', thresholds=thr.tolist())
    res = per_class(paths, batch_size=4, progress=False)
    classes = per_class.classes
    for r, s in zip(res, scores):
        expected = np.flatnonzero(s >= thr).tolist()
        assert r['pred_label'] == expected
        assert r['pred_class'] == [classes[i] for i in expected]
    # the default (head thr 0.5) gives other decisions here
    default = [r['pred_label'] for r in inferencer(paths, progress=False)]
    assert default != [r['pred_label'] for r in res]
    # a {class: thr} dict and a single float work too
    as_dict = MultiLabelInferencer(
        run.config, run.checkpoint, device='cpu',
        thresholds=dict(zip(classes, thr.tolist())))
    assert [r['pred_label'] for r in as_dict(paths, progress=False)] == [
        r['pred_label'] for r in res]
    everything = MultiLabelInferencer(run.config, run.checkpoint,
                                      device='cpu', thresholds=0.0)
    assert all(r['pred_label'] == list(range(10))
               for r in everything(paths[:2], progress=False))


def test_attention_maps(run, inferencer):
    from ldr_mm.apis import init_multilabel_model
    paths = image_paths(run)[:4]
    res = inferencer(paths, batch_size=3, return_attention=True,
                     progress=False)
    h = w = SIZE // 16  # the demo backbone's output stride
    for r in res:
        a = r['attention']
        assert a.shape == (10, h, w)
        assert (a >= 0).all()
        np.testing.assert_allclose(a.sum((1, 2)), 1.0, atol=1e-5)
    # not uniform: the queries attend to different tokens
    stacked = np.stack([r['attention'] for r in res])
    assert stacked.std() > 1e-4
    # the scores with attention equal those without
    plain = inferencer(paths, progress=False)
    for r, p in zip(res, plain):
        np.testing.assert_allclose(r['pred_scores'], p['pred_scores'],
                                   atol=1e-6)
    # and the maps are the neck's own
    model = init_multilabel_model(run.config, run.checkpoint, device='cpu')
    import cv2
    imgs = [torch.from_numpy(cv2.imread(p).transpose(2, 0, 1).copy())
            for p in paths]
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=imgs), False)
        _, attn, hw = model.neck.forward_attention(
            model.backbone(data['inputs']))
    assert hw == (h, w)
    np.testing.assert_allclose(stacked, attn.numpy(), atol=1e-6)


def test_show_dir_writes_overlays(run, inferencer, tmp_path):
    paths = image_paths(run)[:2]
    out = tmp_path / 'vis'
    res = inferencer(paths, show_dir=str(out), attention_classes='all',
                     per_class_files=True, min_size=128, progress=False)
    assert len(res) == 2
    k = 2  # 64 px -> 128 px
    for p in paths:
        stem = osp.splitext(osp.basename(p))[0]
        H, W, std, colours = png_stats(str(out / f'{stem}.png'))
        assert W == SIZE * k * 11  # input + 10 classes
        assert H > SIZE * k
        assert std > 10 and colours > 500
        spreads = []
        for c in inferencer.classes:
            H, W, std, colours = png_stats(str(out / stem / f'{c}.png'))
            assert (H, W) == (SIZE * k, SIZE * k)
            assert std > 10 and colours > 100  # a 2-iteration model
            spreads.append(heat_spread(str(out / stem / f'{c}.png')))
        # no heat map is flat (a flat one has spread 0);
        # the 2-iteration model's maps have spreads of about 1.3-20
        assert min(spreads) > 1.0 and np.mean(spreads) > 5, spreads
    assert len(res.written) == 2 * 11


def test_arrays_and_registry(run, inferencer):
    import cv2
    from mmengine.registry import INFERENCERS
    path = image_paths(run)[0]
    img = cv2.imread(path)
    by_array = inferencer(img, progress=False)[0]
    by_path = inferencer(path, progress=False)[0]
    assert by_array['img_path'] is None and by_array['name'] == 'array_0'
    np.testing.assert_allclose(by_array['pred_scores'],
                               by_path['pred_scores'], atol=1e-6)
    built = INFERENCERS.build(dict(type='MultiLabelInferencer',
                                   model=run.config,
                                   pretrained=run.checkpoint,
                                   device='cpu'))
    np.testing.assert_allclose(built(path, progress=False)[0]['pred_scores'],
                               by_path['pred_scores'], atol=1e-6)
    import ldr_mm
    assert ldr_mm.apis.MultiLabelInferencer is type(built)


def test_unreadable_images(run, inferencer, tmp_path):
    from ldr_mm.apis import UnreadableImageError
    folder = tmp_path / 'imgs'
    folder.mkdir()
    good = image_paths(run)[:3]
    for p in good:
        shutil.copy(p, folder)
    (folder / 'broken.png').write_bytes(b'not a png at all')
    (folder / 'empty.jpg').write_bytes(b'')
    (folder / 'notes.txt').write_text('not an image')
    with pytest.warns(UserWarning) as caught:
        res = inferencer(str(folder), progress=False)
    messages = ' '.join(str(w.message) for w in caught)
    assert 'broken.png' in messages
    assert 'empty.jpg": empty file (0 bytes)' in messages
    assert len(res) == 3
    assert sorted(osp.basename(p) for p, _ in res.skipped) == [
        'broken.png', 'empty.jpg']
    assert [osp.basename(p) for p in res.ignored] == ['notes.txt']
    # given by itself, an unreadable image is an error naming it
    with pytest.raises(UnreadableImageError, match='broken.png'):
        inferencer(str(folder / 'broken.png'), progress=False)
    with pytest.raises(FileNotFoundError, match='missing.png'):
        inferencer(str(folder / 'missing.png'), progress=False)
    # a .txt list: relative paths, unreadable entries skipped
    (folder / 'list.txt').write_text('# test images\n' + '\n'.join(
        osp.basename(p) for p in good[:2]) + '\nbroken.png\n')
    with pytest.warns(UserWarning, match='broken.png'):
        res = inferencer(str(folder / 'list.txt'), progress=False)
    assert len(res) == 2 and len(res.skipped) == 1


def test_checkpoint_from_another_config_is_refused(run, tmp_path):
    from ldr_mm.apis import CheckpointMismatchError, MultiLabelInferencer
    # other backbone width: shapes differ
    cfg = Config.fromfile(run.config)
    cfg.model.backbone.base_channels = 16
    cfg.model.backbone.stem_channels = 16
    cfg.model.neck.in_channels = 128
    with pytest.raises(CheckpointMismatchError,
                       match=r'different shape.*backbone\.') as e:
        MultiLabelInferencer(cfg, run.checkpoint, device='cpu')
    assert 'checkpoint (' in str(e.value)
    # other classes with the same architecture: the names are compared
    cfg = Config.fromfile(run.config)
    renamed = ['c0', 'nodule', 'ring', 'streak', 'cross', 'square',
               'triangle', 'stripes', 'speckle', 'cavity']
    cfg.test_dataloader.dataset.metainfo = dict(classes=renamed)
    with pytest.raises(CheckpointMismatchError,
                       match="#0: 'opacity' vs 'c0'"):
        MultiLabelInferencer(cfg, run.checkpoint, device='cpu')
    # a checkpoint without some weights (e.g. truncated by hand)
    ckpt = torch.load(run.checkpoint, weights_only=True)
    del ckpt['state_dict']['head.bias']
    partial = str(tmp_path / 'partial.pth')
    torch.save(ckpt, partial)
    with pytest.raises(CheckpointMismatchError,
                       match='missing from the checkpoint: head.bias'):
        MultiLabelInferencer(run.config, partial, device='cpu')


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_unsafe_checkpoint_is_refused(run, tmp_path):
    from ldr_mm.apis import MultiLabelInferencer
    from ldr_mm.utils import UnsafeCheckpointError
    path = str(tmp_path / 'evil.pth')
    with open(path, 'wb') as f:
        torch.save({'state_dict': {}, 'x': _Evil()}, f)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        MultiLabelInferencer(run.config, path, device='cpu')


def test_threshold_file_of_other_classes_is_refused(run, tmp_path):
    from ldr_mm.apis import MultiLabelInferencer
    from ldr_mm.evaluation import ThresholdFileError, save_thresholds
    path = str(tmp_path / 'thr.json')
    classes = ['opacity', 'nodule', 'ring', 'streak', 'cross', 'square',
               'triangle', 'stripes', 'speckle', 'hole']
    save_thresholds(path, classes, [0.3] * 10, 'f1')
    with pytest.raises(ThresholdFileError,
                       match=r"only in the file: \['hole'\].*only in the "
                       r"model: \['cavity'\]"):
        MultiLabelInferencer(run.config, run.checkpoint, device='cpu',
                             thresholds=path)


def test_missing_prompt_cache_uses_the_checkpoints_embeddings(
        run, inferencer, tmp_path):
    from ldr_mm.apis import MultiLabelInferencer
    cfg = Config.fromfile(run.config)
    cfg.model.neck.prompt_cache = str(tmp_path / 'gone.pth')
    other = MultiLabelInferencer(cfg, run.checkpoint, device='cpu')
    paths = image_paths(run)[:3]
    a = np.stack([r['pred_scores'] for r in other(paths, progress=False)])
    b = np.stack([r['pred_scores'] for r in inferencer(paths,
                                                       progress=False)])
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not osp.exists(str(tmp_path / 'gone.pth'))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_matches_cpu(run, inferencer):
    from ldr_mm.apis import MultiLabelInferencer
    paths = image_paths(run)[:4]
    gpu = MultiLabelInferencer(run.config, run.checkpoint, device='cuda')
    assert next(gpu.model.parameters()).is_cuda
    a = gpu(paths, batch_size=2, return_attention=True, progress=False)
    b = inferencer(paths, batch_size=2, return_attention=True,
                   progress=False)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x['pred_scores'], y['pred_scores'],
                                   atol=1e-4)
        np.testing.assert_allclose(x['attention'], y['attention'],
                                   atol=1e-4)


def test_class_and_image_names_cannot_leave_show_dir(run, inferencer,
                                                     tmp_path, monkeypatch):
    """Issue 23.6: a class named ``../../x`` wrote outside ``show_dir``."""
    bad = ['../../x', 'a/b', 'a_b', '..', '.hidden'] + \
        inferencer.classes[5:]
    monkeypatch.setattr(inferencer, 'classes', bad)
    src = tmp_path / 'src'
    src.mkdir()
    img = str(src / '..png')  # an image whose stem is '.'-only
    shutil.copy(image_paths(run)[0], img)
    out = tmp_path / 'deep' / 'vis'
    res = inferencer([img], show_dir=str(out), attention_classes='all',
                     per_class_files=True, progress=False)
    assert len(res.written) == 11
    root = osp.realpath(str(out))
    for p in res.written:
        assert osp.realpath(p).startswith(root + os.sep), p
        assert osp.isfile(p)
    assert sorted(os.listdir(out)) == ['__png', '__png.png']
    names = sorted(os.listdir(out / '__png'))
    assert names[:5] == ['__.png', '___.._x.png', '_hidden.png', 'a_b.png',
                         'a_b_1.png']
    # nothing but the source image and the output folder under tmp_path
    assert sorted(os.listdir(tmp_path)) == ['deep', 'src']
    assert os.listdir(tmp_path / 'deep') == ['vis']
