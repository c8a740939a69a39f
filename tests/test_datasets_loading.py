"""LoadMedicalImage and the no-silent-refetch rule of the datasets."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import ldr_mm  # noqa: F401
from ldr_mm.datasets import AxSpADataset, ImageLoadError, LoadMedicalImage
from ldr_mm.datasets.transforms import to_three_channels
from medical_helpers import make_axspa, write_image


def load(path, **kw):
    return LoadMedicalImage(**kw)(dict(img_path=path))


@pytest.mark.parametrize('kind', ['gray', 'rgb', 'rgba', 'gray16'])
def test_every_kind_becomes_three_uint8_channels(tmp_path, kind):
    path = str(tmp_path / f'{kind}.png')
    src = write_image(path, kind, size=(7, 9), seed=3)
    out = load(path)
    img = out['img']
    assert img.shape == (7, 9, 3) and img.dtype == np.uint8
    assert out['img_shape'] == (7, 9) and out['ori_shape'] == (7, 9)
    if kind == 'gray':
        for c in range(3):
            np.testing.assert_array_equal(img[..., c], src)
    elif kind == 'rgb':
        np.testing.assert_array_equal(img, src)  # BGR as written
    elif kind == 'rgba':
        np.testing.assert_array_equal(img, src[..., :3])
    else:  # 16 bit: per-image min-max to 0..255
        f = (src - src.min()) / (src.max() - src.min())
        np.testing.assert_array_equal(img[..., 1],
                                      np.round(f * 255).astype(np.uint8))


def test_16bit_scale_mode_and_float_output(tmp_path):
    path = str(tmp_path / 'a.png')
    src = write_image(path, 'gray16', size=(4, 5))
    img = load(path, high_bit_depth='scale', to_float32=True)['img']
    assert img.dtype == np.float32
    np.testing.assert_array_equal(
        img[..., 0], np.round(src / 65535 * 255).astype(np.uint8))
    with pytest.raises(ValueError, match='high_bit_depth'):
        LoadMedicalImage(high_bit_depth='window')


def test_to_three_channels_gray_alpha_and_bad_shapes():
    ga = np.zeros((3, 4, 2), np.uint8)
    ga[..., 0] = 7
    assert (to_three_channels(ga) == 7).all()
    assert to_three_channels(np.zeros((3, 4, 1), np.uint8)).shape == (3, 4, 3)
    with pytest.raises(ImageLoadError, match='x.png.*unsupported shape'):
        to_three_channels(np.zeros((3, 4, 5), np.uint8), 'x.png')


def test_missing_empty_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(ImageLoadError, match='nope.png.*does not exist'):
        load(str(tmp_path / 'nope.png'))
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    with pytest.raises(ImageLoadError, match='empty.png.*empty'):
        load(str(empty))
    garbage = tmp_path / 'garbage.png'
    garbage.write_bytes(b'not an image at all' * 20)
    with pytest.raises(ImageLoadError, match='garbage.png.*corrupt'):
        load(str(garbage))
    good = tmp_path / 'good.png'
    write_image(str(good), 'rgb', size=(30, 30))
    trunc = tmp_path / 'truncated.png'
    data = good.read_bytes()
    trunc.write_bytes(data[:len(data) // 2])
    with pytest.raises(ImageLoadError, match='truncated.png'):
        load(str(trunc))


def test_list_of_paths_is_placed_side_by_side(tmp_path):
    a = write_image(str(tmp_path / 'l.png'), 'rgb', size=(10, 12), seed=1)
    b = write_image(str(tmp_path / 'r.png'), 'gray', size=(20, 16), seed=2)
    img = load([str(tmp_path / 'l.png'), str(tmp_path / 'r.png')])['img']
    assert img.shape == (10, 12 + 8, 3)
    np.testing.assert_array_equal(img[:, :12], a)
    right = cv2.resize(b, (8, 10), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(img[:, 12:, 0], right)
    with pytest.raises(ImageLoadError, match='missing.png'):
        load([str(tmp_path / 'l.png'), str(tmp_path / 'missing.png')])


def _dataset(root, pipeline, split='all'):
    return AxSpADataset(data_root=root, split=split, pipeline=pipeline,
                        check_files=False)


def test_dataset_raises_instead_of_refetching(tmp_path):
    root = str(tmp_path)
    make_axspa(root, n_patients=2, slices=2)
    victim = osp.join(root, 'P0000', 'slice_00.png')
    os.remove(victim)
    # MMCV's loader with ignore_empty returns None for a missing file:
    # MMEngine would silently train on another random sample; ours refuse.
    ds = _dataset(root, [dict(type='LoadImageFromFile', ignore_empty=True),
                         dict(type='PackInputs')])
    idx = [i for i in range(len(ds))
           if ds.get_data_info(i)['img_path'] == victim][0]
    with pytest.raises(RuntimeError, match='slice_00.png'):
        ds[idx]
    ds = _dataset(root, [dict(type='LoadMedicalImage'),
                         dict(type='PackInputs')])
    with pytest.raises(ImageLoadError, match='slice_00.png.*does not exist'):
        ds[idx]
    with open(victim, 'wb') as f:
        f.write(b'\x89PNG broken')
    with pytest.raises(ImageLoadError, match='slice_00.png.*corrupt'):
        ds[idx]
    # ... and through a DataLoader worker process, the message survives
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, [idx]), num_workers=1,
        collate_fn=lambda x: x)
    with pytest.raises(Exception, match='slice_00.png'):
        next(iter(loader))
    good = [i for i in range(len(ds)) if i != idx][0]
    assert ds[good]['inputs'].shape == (3, 20, 20)
