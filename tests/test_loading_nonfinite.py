"""Issue 13.2: NaN/Inf pixels in a float image must not blank it."""
import cv2
import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import ImageLoadError, LoadMedicalImage
from ldr_mm.datasets.transforms import to_three_channels


def _float_tiff(path, img):
    assert cv2.imwrite(str(path), img.astype(np.float32))
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.float32  # OpenCV keeps float TIFFs as float
    return str(path)


def _ramp():
    return np.linspace(10.0, 20.0, 6 * 8, dtype=np.float32).reshape(6, 8)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_minmax_scales_the_finite_pixels_and_warns(tmp_path, bad):
    src = _ramp()
    src[2, 3] = bad
    path = _float_tiff(tmp_path / 'scan.tiff', src)
    with pytest.warns(UserWarning, match=r'scan\.tiff.*1 non-finite'):
        img = LoadMedicalImage()(dict(img_path=path))['img']
    finite = np.isfinite(src)
    f = (src[finite] - 10.0) / 10.0
    # the finite pixels keep the full 0..255 range (not an all-zero image)
    np.testing.assert_array_equal(img[..., 0][finite],
                                  np.round(f * 255).astype(np.uint8))
    assert img.max() == 255
    # NaN and -Inf become black, +Inf white
    assert img[2, 3, 0] == (255 if bad == np.inf else 0)


def test_scale_mode_maps_nan_to_black_and_warns():
    src = np.full((3, 3), 0.5, np.float32)
    src[0, 0] = np.nan
    with pytest.warns(UserWarning, match='x.tif'):
        img = to_three_channels(src, 'x.tif', 'scale')
    assert img[0, 0, 0] == 0 and img[1, 1, 0] == 128


def test_an_image_without_finite_pixels_is_refused():
    with pytest.raises(ImageLoadError, match='empty.tif.*no finite pixel'):
        to_three_channels(np.full((3, 3), np.nan, np.float32), 'empty.tif')


def test_finite_float_images_do_not_warn(recwarn):
    img = to_three_channels(_ramp(), 'ok.tif')
    assert img.max() == 255 and img.min() == 0
    assert not [w for w in recwarn if 'non-finite' in str(w.message)]
