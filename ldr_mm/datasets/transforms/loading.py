"""Load a medical image as a 3-channel 8-bit array, or fail naming the file."""
import warnings
from typing import Optional, Sequence, Union

import cv2
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio

from mmpretrain.registry import TRANSFORMS

from .errors import ImageLoadError
from .medical_io import decode_medical


# Keep the stored bit depth and channel count (gray stays gray, 16 bit stays
# 16 bit; an alpha channel is dropped by OpenCV) and apply the EXIF
# orientation like MMCV's loader does.
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


def _finite_pixels(f: np.ndarray, path: str) -> np.ndarray:
    """Bool mask of the finite pixels; warn naming ``path`` if some aren't.

    One NaN would make ``min``/``max`` NaN and blank the whole image, so
    scaling uses the finite pixels only; an image without any is refused.
    """
    finite = np.isfinite(f)
    if finite.all():
        return finite
    if not finite.any():
        raise ImageLoadError(
            f'Image "{path}" has no finite pixel (all NaN/Inf); re-export it')
    n = int((~finite).sum())
    warnings.warn(
        f'Image "{path}": {n} non-finite pixel(s) (NaN/Inf) of {f.size}; '
        'scaled by its finite pixels, NaN and -Inf shown black, +Inf white. '
        'Check the export that wrote it.')
    return finite


def _to_unit_range(img: np.ndarray, path: str,
                   high_bit_depth: str) -> np.ndarray:
    """A 16-bit / float image as float64 in [0, 1] (see to_three_channels)."""
    if high_bit_depth not in ('minmax', 'scale'):
        raise ValueError(f"high_bit_depth must be 'minmax' or 'scale', "
                         f'got {high_bit_depth!r}')
    f = img.astype(np.float64)
    finite = _finite_pixels(f, path)
    if high_bit_depth == 'minmax':
        lo, hi = float(f[finite].min()), float(f[finite].max())
        f = (f - lo) / (hi - lo) if hi > lo else np.where(finite, 0.0, f)
    elif np.issubdtype(img.dtype, np.integer):
        f = f / np.iinfo(img.dtype).max
    # +Inf -> 1 (white); NaN and -Inf -> 0 (black)
    return np.clip(np.nan_to_num(f, nan=0.0, posinf=1.0, neginf=0.0), 0, 1)


def to_three_channels(img: np.ndarray, path: str = '<array>',
                      high_bit_depth: str = 'minmax') -> np.ndarray:
    """Convert a decoded image to ``uint8`` (H, W, 3) BGR.

    * grayscale (H, W) or (H, W, 1): the channel is repeated three times;
    * gray + alpha (H, W, 2) and BGRA (H, W, 4): the alpha channel is
      dropped (medical PNGs that carry one have it fully opaque);
    * 16-bit / float images become 8-bit by ``high_bit_depth``:
      ``'minmax'`` stretches each image's own [min, max] to [0, 255] (MRI
      and many DICOM exports use 12 of 16 bits, so a fixed scale would give
      a near-black image), ``'scale'`` divides by the dtype range
      (``65535 / 255`` for uint16; floats are clipped to [0, 1]).
      NaN/Inf pixels of a float image are left out of the scaling (one NaN
      would otherwise blank the image), shown black (NaN, -Inf) or white
      (+Inf), and reported in a warning naming ``path``; an image with no
      finite pixel raises :class:`ImageLoadError`.

    Args:
        img (np.ndarray): (H, W) or (H, W, C) with C in {1, 2, 3, 4}.
        path (str): The file the image came from, for error messages.
        high_bit_depth (str): ``'minmax'`` or ``'scale'``.

    Returns:
        np.ndarray: (H, W, 3) ``uint8``.
    """
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 2:  # gray + alpha
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ImageLoadError(
            f'Image "{path}" has an unsupported shape {img.shape}; expected '
            'grayscale, gray+alpha, BGR or BGRA')
    if img.size == 0:
        raise ImageLoadError(f'Image "{path}" has no pixels ({img.shape})')
    if img.dtype != np.uint8:
        img = np.round(_to_unit_range(img, path, high_bit_depth) *
                       255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img)


@TRANSFORMS.register_module()
class LoadMedicalImage(LoadImageFromFile):
    """Load an image so that it always reaches the model as 3 channels.

    MMCV's :class:`LoadImageFromFile` decodes with OpenCV's colour flag,
    which silently truncates 16-bit images to their high byte; this keeps
    its file backends (``backend_args``) but decodes with the stored bit
    depth and channel count and then converts explicitly (see
    :func:`to_three_channels`): grayscale X-rays and MRI slices are
    replicated to 3 channels, RGBA images lose the alpha channel, 16-bit
    images are mapped to 8 bits. The result is BGR like MMCV's loader, so
    ``data_preprocessor.to_rgb=True`` behaves as usual.

    A missing, empty or undecodable file raises :class:`ImageLoadError`
    naming the file. There is no ``ignore_empty``: returning ``None`` would
    make MMEngine's dataset silently train on another sample instead.

    DICOM (``.dcm`` or any file with the DICM marker; pydicom) and NIfTI
    (``.nii`` / ``.nii.gz``; nibabel) files are read by
    :mod:`~ldr_mm.datasets.transforms.medical_io`: rescale slope /
    intercept, the file's window or VOI LUT, MONOCHROME1 inverted; one
    frame of a multi-frame DICOM and one slice of a NIfTI volume, chosen by
    the sample's ``slice_index`` / ``slice_axis`` (annotation keys) or the
    defaults below.

    ``results['img_path']`` may also be a list of paths (ODIR-5K's
    ``mode='patient'``: both fundus images of a patient); the images are
    resized to the height of the first one and placed side by side, in the
    given order.

    **Required keys:** ``img_path``; optional ``slice_index``,
    ``slice_axis`` (DICOM / NIfTI).
    **Added keys:** ``img`` (H, W, 3) uint8 (float32 with ``to_float32``),
    ``img_shape``, ``ori_shape``.

    Args:
        to_float32 (bool): Return a float32 array. Defaults to False.
        high_bit_depth (str): How 16-bit images become 8-bit:
            ``'minmax'`` (per image, default) or ``'scale'``.
        slice_axis (int): NIfTI voxel axis to slice across when a sample
            has no ``slice_axis``. Defaults to 2.
        slice_index (int | str, optional): NIfTI slice / DICOM frame when a
            sample has no ``slice_index`` (``'middle'`` allowed). Defaults
            to None: a volume or multi-frame file needs the sample's own.
        dicom_voi (bool): Apply a DICOM file's window / VOI LUT when it has
            one. Defaults to True.
        backend_args (dict, optional): MMEngine file backend arguments.
    """

    def __init__(self,
                 to_float32: bool = False,
                 high_bit_depth: str = 'minmax',
                 slice_axis: int = 2,
                 slice_index: Optional[Union[int, str]] = None,
                 dicom_voi: bool = True,
                 backend_args: Optional[dict] = None):
        if high_bit_depth not in ('minmax', 'scale'):
            raise ValueError(f"high_bit_depth must be 'minmax' or 'scale', "
                             f'got {high_bit_depth!r}')
        super().__init__(
            to_float32=to_float32,
            ignore_empty=False,
            backend_args=backend_args)
        self.high_bit_depth = high_bit_depth
        if slice_axis not in (0, 1, 2) or not (
                slice_index in (None, 'middle') or
                (isinstance(slice_index, int)
                 and not isinstance(slice_index, bool) and slice_index >= 0)):
            raise ValueError(
                'LoadMedicalImage: slice_axis must be 0, 1 or 2 and '
                "slice_index None, 'middle' or an integer >= 0, got "
                f'{slice_axis!r}, {slice_index!r}')
        self.medical = dict(slice_axis=slice_axis, slice_index=slice_index,
                            voi=dicom_voi)

    def _read(self, path: str, results: Optional[dict] = None) -> np.ndarray:
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise ImageLoadError(f'Image file "{path}" does not exist') from e
        except OSError as e:
            raise ImageLoadError(f'Cannot read image file "{path}": {e}') \
                from e
        if len(data) == 0:
            raise ImageLoadError(f'Image file "{path}" is empty (0 bytes)')
        img = decode_medical(data, path, results or {}, **self.medical,
                             high_bit_depth=self.high_bit_depth)
        if img is not None:
            return to_three_channels(img, path, self.high_bit_depth)
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _DECODE_FLAGS)
        if img is None:
            raise ImageLoadError(
                f'Image file "{path}" ({len(data)} bytes) is corrupt or not '
                'an image format OpenCV can decode (PNG, JPEG, TIFF, BMP; '
                'DICOM and NIfTI are read by name: .dcm, .nii, .nii.gz)')
        return to_three_channels(img, path, self.high_bit_depth)

    def transform(self, results: dict) -> dict:
        paths: Union[str, Sequence[str]] = results['img_path']
        if isinstance(paths, (list, tuple)):
            if not paths:
                raise ImageLoadError('Empty list of image paths in sample '
                                     f'{results.get("sample_idx")}')
            imgs = [self._read(p, results) for p in paths]
            h = imgs[0].shape[0]
            imgs = [
                im if im.shape[0] == h else cv2.resize(
                    im, (max(1, round(im.shape[1] * h / im.shape[0])), h),
                    interpolation=cv2.INTER_AREA) for im in imgs
            ]
            img = np.concatenate(imgs, axis=1)
        else:
            img = self._read(paths, results)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"high_bit_depth='{self.high_bit_depth}', "
                f"slice_axis={self.medical['slice_axis']}, "
                f"slice_index={self.medical['slice_index']!r}, "
                f"dicom_voi={self.medical['voi']}, "
                f'backend_args={self.backend_args})')
