"""DICOM and NIfTI input of LoadMedicalImage, on the files pydicom and
nibabel ship and on hand-made edge cases. Expected values are computed
here from the DICOM / NIfTI definitions, not with the code under test."""
import gzip
import os.path as osp
import shutil
import sys

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import ImageLoadError, LoadMedicalImage

pydicom = pytest.importorskip('pydicom')
nib = pytest.importorskip('nibabel')
from nibabel.testing import data_path as NIB_DATA  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402


def dicom_file(name):
    """A file of pydicom's wheel (never downloaded)."""
    path = get_testdata_file(name, download=False)
    assert path is not None, f'{name} is not in the pydicom wheel'
    return path


def load(path, **kw):
    sample = kw.pop('sample', {})
    out = LoadMedicalImage(**kw)(dict(img_path=path, **sample))
    img = out['img']
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert out['img_shape'] == img.shape[:2]
    return img


def unit8(values, lo, hi):
    f = np.clip((np.asarray(values, np.float64) - lo) / (hi - lo), 0, 1)
    return np.round(f * 255).astype(np.uint8)


def gray(img):
    assert (img[..., 0] == img[..., 1]).all()
    assert (img[..., 0] == img[..., 2]).all()
    return img[..., 0]


# ------------------------------------------------------------------ DICOM
def test_ct_rescale_intercept_then_minmax():
    """CT_small: Rescale Intercept -1024 (Hounsfield units), no window."""
    path = dicom_file('CT_small.dcm')
    ds = pydicom.dcmread(path)
    assert 'WindowCenter' not in ds and float(ds.RescaleIntercept) == -1024
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(
        ds.RescaleIntercept)
    np.testing.assert_array_equal(
        gray(load(path)), unit8(hu, hu.min(), hu.max()))
    # 'scale': the signed 16-bit range through the rescale
    np.testing.assert_array_equal(
        gray(load(path, high_bit_depth='scale')),
        unit8(hu, -32768 - 1024, 32767 - 1024))


def test_mr_window_centre_width_is_applied():
    """MR_small: window centre 600, width 1600 (DICOM PS3.3 C.11.2.1.2)."""
    path = dicom_file('MR_small.dcm')
    ds = pydicom.dcmread(path)
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    assert (c, w) == (600.0, 1600.0)
    x = ds.pixel_array.astype(np.float64)
    expected = unit8(((x - (c - 0.5)) / (w - 1) + 0.5), 0.0, 1.0)
    got = gray(load(path))
    np.testing.assert_allclose(got.astype(int), expected.astype(int), atol=1)
    assert np.abs(got.astype(int) - expected).mean() < 0.05
    # without the VOI transform: the raw values' min-max
    np.testing.assert_array_equal(
        gray(load(path, dicom_voi=False)), unit8(x, x.min(), x.max()))


def test_compressed_files_with_a_decoder_match_the_uncompressed_one():
    """RLE (pydicom's own decoder) decodes to the same image."""
    np.testing.assert_array_equal(load(dicom_file('MR_small_RLE.dcm')),
                                  load(dicom_file('MR_small.dcm')))
    img = load(dicom_file('JPEG2000.dcm'))  # Pillow's JPEG 2000 decoder
    assert img.shape == (1024, 256, 3) and img.std() > 10


def _edited(tmp_path, name, edit, out='x.dcm'):
    ds = pydicom.dcmread(dicom_file(name))
    edit(ds)
    path = str(tmp_path / out)
    ds.save_as(path)
    return path


def test_monochrome1_is_inverted(tmp_path):
    def mono1(ds):
        ds.PhotometricInterpretation = 'MONOCHROME1'
    path = _edited(tmp_path, 'MR_small.dcm', mono1)
    np.testing.assert_array_equal(
        gray(load(path)), 255 - gray(load(dicom_file('MR_small.dcm'))))


def test_missing_window_falls_back_to_the_bit_depth_rule(tmp_path):
    def drop(ds):
        del ds.WindowCenter
        del ds.WindowWidth
    path = _edited(tmp_path, 'MR_small.dcm', drop)
    x = pydicom.dcmread(path).pixel_array.astype(np.float64)
    np.testing.assert_array_equal(gray(load(path)),
                                  unit8(x, x.min(), x.max()))
    bits = int(pydicom.dcmread(path).BitsStored)
    np.testing.assert_array_equal(
        gray(load(path, high_bit_depth='scale')),
        unit8(x, -2**(bits - 1), 2**(bits - 1) - 1))


def test_dicom_without_extension_is_recognised(tmp_path):
    path = str(tmp_path / 'IM000001')
    shutil.copy(dicom_file('CT_small.dcm'), path)
    np.testing.assert_array_equal(load(path),
                                  load(dicom_file('CT_small.dcm')))


def test_multiframe_refused_or_frame_chosen():
    path = dicom_file('rtdose.dcm')  # 15 frames
    with pytest.raises(ImageLoadError, match='rtdose.dcm.*15 frames.*'
                       'slice_index'):
        load(path)
    frames = pydicom.dcmread(path).pixel_array.astype(np.float64)
    for k in (0, 7):
        f = frames[k]
        expected = unit8(f, f.min(), f.max())
        np.testing.assert_array_equal(
            gray(load(path, sample=dict(slice_index=k))), expected)
    np.testing.assert_array_equal(
        gray(load(path, slice_index=7)), gray(load(
            path, sample=dict(slice_index=7))))
    with pytest.raises(ImageLoadError, match='frame index 15 is out of '
                       'range.*0..14'):
        load(path, sample=dict(slice_index=15))
    with pytest.raises(ImageLoadError, match='not an integer'):
        load(path, sample=dict(slice_index='3'))


def test_rgb_multiframe_and_palette_colour_become_bgr():
    path = dicom_file('SC_rgb_rle_2frame.dcm')
    rgb = pydicom.dcmread(path).pixel_array[1]
    np.testing.assert_array_equal(
        load(path, sample=dict(slice_index=1)), rgb[..., ::-1])
    from pydicom.pixels import apply_color_lut
    path = dicom_file('examples_palette.dcm')
    ds = pydicom.dcmread(path)
    rgb = apply_color_lut(ds.pixel_array, ds)
    assert rgb.dtype == np.uint16  # 16-bit palette: the 16-bit rule
    f = rgb[..., ::-1].astype(np.float64)
    np.testing.assert_array_equal(load(path), unit8(f, f.min(), f.max()))


def test_compressed_transfer_syntax_without_decoder_is_a_clear_error():
    path = dicom_file('JPEGLSNearLossless_16.dcm')
    try:
        pydicom.dcmread(path).pixel_array
    except RuntimeError:
        pass
    else:
        pytest.skip('a JPEG-LS decoder is installed here')
    with pytest.raises(ImageLoadError) as e:
        load(path)
    msg = str(e.value)
    assert 'JPEGLSNearLossless_16.dcm' in msg and 'JPEG-LS' in msg
    assert 'pylibjpeg' in msg and 'pyjpegls' in msg


def test_bad_dicom_files_name_the_file(tmp_path):
    path = str(tmp_path / 'trunc.dcm')
    data = open(dicom_file('CT_small.dcm'), 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    with pytest.raises(ImageLoadError, match='trunc.dcm'):
        load(path)
    path = str(tmp_path / 'plan.dcm')
    shutil.copy(dicom_file('rtplan.dcm'), path)
    with pytest.raises(ImageLoadError, match='plan.dcm.*no pixel data'):
        load(path)
    path = str(tmp_path / 'text.dcm')
    open(path, 'w').write('not a dicom file' * 20)
    with pytest.raises(ImageLoadError, match='text.dcm.*not a readable '
                       'DICOM'):
        load(path)


@pytest.mark.parametrize('module,name', [('pydicom', 'x.dcm'),
                                         ('nibabel', 'x.nii')])
def test_missing_optional_package_names_it(tmp_path, monkeypatch, module,
                                           name):
    path = str(tmp_path / name)
    open(path, 'wb').write(b'\0' * 400)
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    with pytest.raises(ImportError, match=f'{name}.*pip install "{module}'):
        load(path)


# ------------------------------------------------------------------ NIfTI
ANAT = osp.join(NIB_DATA, 'anatomical.nii')  # (33, 41, 25) int16


@pytest.mark.parametrize('axis,index', [(2, 12), (0, 5), (1, 40)])
def test_nifti_slice_by_axis_and_index(axis, index):
    vol = nib.load(ANAT).get_fdata()
    f = np.take(vol, index, axis=axis)
    np.testing.assert_array_equal(
        gray(load(ANAT, sample=dict(slice_axis=axis, slice_index=index))),
        unit8(f, f.min(), f.max()))


def test_nifti_gz_defaults_and_middle(tmp_path):
    path = str(tmp_path / 'anat.nii.gz')
    with open(ANAT, 'rb') as src, gzip.open(path, 'wb') as dst:
        dst.write(src.read())
    ref = load(ANAT, sample=dict(slice_index=12))
    np.testing.assert_array_equal(load(path, sample=dict(slice_index=12)),
                                  ref)
    np.testing.assert_array_equal(load(path, slice_index='middle'), ref)
    np.testing.assert_array_equal(load(path, slice_index=3,
                                       sample=dict(slice_index=12)), ref)
    with pytest.raises(ImageLoadError, match='anat.nii.gz" holds 25 slices along '
                       'axis 2; .*slice_index'):
        load(path)
    with pytest.raises(ImageLoadError, match='index 25 is out of range'):
        load(path, sample=dict(slice_index=25))
    with pytest.raises(ImageLoadError, match='slice_axis must be 0, 1 or 2'):
        load(path, sample=dict(slice_index=1, slice_axis=3))
    open(str(tmp_path / 'cut.nii.gz'), 'wb').write(
        open(path, 'rb').read()[:500])
    with pytest.raises(ImageLoadError, match='cut.nii.gz.*truncated'):
        load(str(tmp_path / 'cut.nii.gz'), slice_index=0)


def test_bad_loader_arguments_are_refused_at_build_time():
    for kw in (dict(slice_axis=3), dict(slice_index='first'),
               dict(slice_index=-1), dict(slice_index=True)):
        with pytest.raises(ValueError, match='LoadMedicalImage: slice_axis'):
            LoadMedicalImage(**kw)


def test_nifti2_and_4d_volumes():
    path = osp.join(NIB_DATA, 'example_nifti2.nii.gz')  # (32, 20, 12, 2)
    with pytest.raises(ImageLoadError, match='example_nifti2.*2 volumes'):
        load(path, slice_index=0)
    with pytest.raises(ImageLoadError, match='functional.nii.*20 volumes'):
        load(osp.join(NIB_DATA, 'functional.nii'), slice_index=0)


def test_nifti_scaling_nan_and_2d(tmp_path):
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5) - 20
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_slope_inter(0.5, 100.0)
    path = str(tmp_path / 'scaled.nii')
    nib.save(img, path)
    v = data[:, :, 2] * 0.5 + 100.0
    np.testing.assert_array_equal(gray(load(path, slice_index=2)),
                                  unit8(v, v.min(), v.max()))
    lo, hi = -32768 * 0.5 + 100, 32767 * 0.5 + 100
    np.testing.assert_array_equal(
        gray(load(path, slice_index=2, high_bit_depth='scale')),
        unit8(v, lo, hi))
    f = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4, 1)
    f[0, 0, 0] = np.nan
    path = str(tmp_path / 'float2d.nii.gz')
    nib.save(nib.Nifti1Image(f, np.eye(4)), path)
    out = gray(load(path, sample=dict(slice_index=9)))  # one slice: ignored
    fin = f[..., 0]
    expected = unit8(np.nan_to_num(fin, nan=fin[1, 0]), np.nanmin(fin),
                     np.nanmax(fin))
    expected[0, 0] = 0
    np.testing.assert_array_equal(out, expected)


def test_multilabeldataset_json_carries_slice_and_mask(tmp_path):
    """MMPretrain's own MultiLabelDataset: data_list keys ``slice_index`` /
    ``slice_axis`` reach LoadMedicalImage, ``gt_mask`` reaches the data
    sample through PackInputs(algorithm_keys=('gt_mask', ))."""
    import json

    from mmpretrain.datasets import MultiLabelDataset
    shutil.copy(ANAT, str(tmp_path / 'anat.nii'))
    ann = dict(metainfo=dict(classes=['a', 'b']), data_list=[
        dict(img_path='anat.nii', gt_label=[0], slice_index=3),
        dict(img_path='anat.nii', gt_label=[1], slice_index=20,
             slice_axis=1, gt_mask=[1, 0])])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    ds = MultiLabelDataset(
        data_root=str(tmp_path), ann_file='ann.json', pipeline=[
            dict(type='LoadMedicalImage'),
            dict(type='PackInputs', algorithm_keys=('gt_mask', ))])
    vol = nib.load(ANAT).get_fdata()
    for i, (axis, k) in enumerate([(2, 3), (1, 20)]):
        f = np.take(vol, k, axis=axis)
        img = ds[i]['inputs'].numpy()[0]
        np.testing.assert_array_equal(img, unit8(f, f.min(), f.max()))
    assert 'gt_mask' not in ds[0]['data_samples']
    assert list(ds[1]['data_samples'].gt_mask) == [1, 0]


def test_axspa_rows_are_slices_of_a_nifti_volume(tmp_path):
    """The AxSpA setting: one MRI volume per patient, one row per slice."""
    from ldr_mm.datasets import AXSPA_CLASSES, AxSpADataset
    from ldr_mm.datasets.base import AnnotationError
    for p in ('P1', 'P2'):
        (tmp_path / p).mkdir()
        shutil.copy(ANAT, str(tmp_path / p / 't2.nii'))
    header = 'patient_id,img_path,slice_index,' + ','.join(AXSPA_CLASSES)
    rows = [f'{p},{p}/t2.nii,{k},' + ','.join(
        '1' if (i + k) % 5 == 0 else '0' for i in range(12))
        for p in ('P1', 'P2') for k in (3, 7, 12)]
    (tmp_path / 'annotations.csv').write_text('\n'.join([header] + rows))
    ds = AxSpADataset(data_root=str(tmp_path), split='all', pipeline=[
        dict(type='LoadMedicalImage'), dict(type='PackInputs')])
    assert len(ds) == 6
    vol = nib.load(ANAT).get_fdata()
    for i in range(len(ds)):
        k = ds.get_data_info(i)['slice_index']
        f = vol[:, :, k]
        np.testing.assert_array_equal(ds[i]['inputs'].numpy()[0],
                                      unit8(f, f.min(), f.max()))
    (tmp_path / 'annotations.csv').write_text(
        '\n'.join([header] + rows + [rows[1]]))
    with pytest.raises(AnnotationError, match='line 8: image "P1/t2.nii" '
                       'slice 7 is already listed at line 3'):
        AxSpADataset(data_root=str(tmp_path), split='all')
