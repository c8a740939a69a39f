"""DICOM (pydicom) and NIfTI (nibabel) readers for :class:`LoadMedicalImage`.

Both readers take the file's bytes (read through MMEngine's file backends by
the loader) and return one 2-D image: a ``uint8`` (H, W) grayscale image
already mapped to display intensities, or an (H, W, 3) BGR colour image
(8 or 16 bit; the loader's ``high_bit_depth`` then applies as for PNGs).

Grayscale intensities become 8 bit in the order the DICOM standard displays
them (PS3.4 N.2): stored values -> modality transform (Rescale Slope /
Intercept or a Modality LUT: Hounsfield units for CT) -> VOI transform (the
file's first window centre / width, or its VOI LUT) when the file has one
and ``voi=True`` -> [0, 255]; MONOCHROME1 (low values bright) is inverted so
that bright always means dense. Without a VOI transform the 16-bit rule of
PNGs applies: ``'minmax'`` stretches the image's own value range, ``'scale'``
the range the stored bits can hold (Bits Stored, Pixel Representation)
through the modality transform.

A NIfTI volume gives one slice per sample, along ``slice_axis`` (voxel
axes as stored, no reorientation: 0 = i, 1 = j, 2 = k) at ``slice_index``;
``scl_slope`` / ``scl_inter`` are applied, and the same ``'minmax'`` (the
slice's finite values) / ``'scale'`` (the on-disk dtype range through the
scaling) rules map it to 8 bit. The slice is returned as stored: rows are
the first remaining voxel axis.

pydicom and nibabel are optional dependencies, imported on first use.
"""
import gzip
import importlib
import io
from typing import Optional, Tuple, Union

import numpy as np

from .errors import ImageLoadError

#: File name endings read as DICOM (besides any file with the DICM preamble).
DICOM_SUFFIXES = ('.dcm', '.dicom', '.dic')
#: File name endings read as NIfTI-1 / NIfTI-2.
NIFTI_SUFFIXES = ('.nii', '.nii.gz')
#: Tested versions, named in the install hint.
_PACKAGES = dict(pydicom='pydicom>=3.0,<4', nibabel='nibabel>=5.2,<6')
#: Python packages that add pixel-data decoders to pydicom.
_DICOM_DECODERS = ('pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg '
                   '(JPEG, JPEG-LS, JPEG 2000), pyjpegls (JPEG-LS) or '
                   'python-gdcm')

SliceIndex = Union[int, str, None]


class MedicalImageError(ImageLoadError):
    """A DICOM / NIfTI file cannot be turned into one 2-D image."""


def require(module: str, what: str):
    """Import an optional dependency or raise naming the package to install.

    Args:
        module (str): ``'pydicom'`` or ``'nibabel'``.
        what (str): The file being read, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f'Reading "{what}" needs the optional package {module}: '
            f'pip install "{_PACKAGES[module]}"') from e


def has_dicom_marker(data: bytes) -> bool:
    """Whether ``data`` (a file's first bytes, at least 132) carries the
    ``DICM`` marker that follows the 128-byte DICOM preamble."""
    return data[128:132] == b'DICM'


def is_dicom_file(path: str) -> bool:
    """Whether the file at ``path`` starts like a DICOM file (reads 132
    bytes; an unreadable file is not one)."""
    try:
        with open(path, 'rb') as f:
            return has_dicom_marker(f.read(132))
    except OSError:
        return False


def medical_format(path: str, data: bytes) -> Optional[str]:
    """``'dicom'``, ``'nifti'`` or None (an ordinary image format).

    NIfTI is recognised by its name (``.nii`` / ``.nii.gz``); DICOM by its
    name or by the ``DICM`` marker after the 128-byte preamble (DICOM files
    often have no extension).
    """
    low = path.lower()
    if low.endswith(NIFTI_SUFFIXES):
        return 'nifti'
    if low.endswith(DICOM_SUFFIXES) or has_dicom_marker(data):
        return 'dicom'
    return None


def to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly to [0, 255] (clipped); NaN becomes 0.

    Args:
        arr (np.ndarray): (H, W) values.
        lo, hi (float): The values that become 0 and 255; ``hi <= lo``
            gives an all-zero image (a constant image has no contrast).
    """
    f = np.asarray(arr, dtype=np.float64)
    if not hi > lo:
        return np.zeros(f.shape, dtype=np.uint8)
    f = np.clip((f - lo) / (hi - lo), 0.0, 1.0)
    return np.round(np.nan_to_num(f, nan=0.0) * 255).astype(np.uint8)


def finite_range(arr: np.ndarray) -> Tuple[float, float]:
    """(min, max) of the finite values ((0, 0) if there are none)."""
    f = np.asarray(arr, dtype=np.float64)
    f = f[np.isfinite(f)]
    return (float(f.min()), float(f.max())) if f.size else (0.0, 0.0)


def _check_mode(high_bit_depth: str) -> None:
    if high_bit_depth not in ('minmax', 'scale'):
        raise ValueError(f"high_bit_depth must be 'minmax' or 'scale', "
                         f'got {high_bit_depth!r}')


def _pick(n: int, index: SliceIndex, what: str, path: str,
          along: str = '') -> int:
    """Check a slice / frame index (``'middle'`` = ``n // 2``)."""
    if index is None:
        raise MedicalImageError(
            f'"{path}" holds {n} {what}s{along}; say which one to use: a '
            f'"slice_index" in the annotation of this sample, or '
            'LoadMedicalImage(slice_index=k) for every file')
    if index == 'middle':
        return n // 2
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise MedicalImageError(
            f'"{path}": {what} index {index!r} is not an integer (or '
            "'middle')")
    k = int(index)
    if not 0 <= k < n:
        raise MedicalImageError(
            f'"{path}": {what} index {k} is out of range; the file has {n} '
            f'{what}s (0..{n - 1})')
    return k


# ------------------------------------------------------------------ DICOM
def _dicom_decode(ds, path: str, frame: SliceIndex) -> np.ndarray:
    """Decoded stored values of one frame: (H, W) or (H, W, 3)."""
    pixels = importlib.import_module('pydicom.pixels')
    n = int(ds.get('NumberOfFrames') or 1)
    index = None
    if n > 1:
        index = _pick(n, frame, 'frame', path)
    try:
        return pixels.pixel_array(ds, index=index)
    except (RuntimeError, NotImplementedError, ValueError) as e:
        ts = getattr(getattr(ds, 'file_meta', None), 'TransferSyntaxUID',
                     None)
        name = getattr(ts, 'name', ts) or 'unknown'
        compressed = ts is not None and getattr(ts, 'is_compressed', False)
        hint = (f' Install a decoder for it: {_DICOM_DECODERS}.'
                if compressed else '')
        raise MedicalImageError(
            f'Cannot decode the pixel data of DICOM file "{path}" '
            f'(transfer syntax: {name}).{hint} pydicom says: {e}') from e


def _dicom_stored_range(ds) -> np.ndarray:
    """The (2,) [min, max] the stored bits can hold."""
    bits = int(ds.get('BitsStored') or ds.get('BitsAllocated') or 16)
    if int(ds.get('PixelRepresentation') or 0) == 1:
        return np.array([-(2**(bits - 1)), 2**(bits - 1) - 1], np.float64)
    return np.array([0, 2**bits - 1], np.float64)


def _dicom_gray(arr: np.ndarray, ds, high_bit_depth: str,
                voi: bool) -> np.ndarray:
    """Modality + VOI transforms of a grayscale frame, to (H, W) uint8."""
    pixels = importlib.import_module('pydicom.pixels')
    values = pixels.apply_modality_lut(arr, ds).astype(np.float64)
    has_voi = 'WindowCenter' in ds or 'VOILUTSequence' in ds
    if voi and has_voi:
        # The VOI output range: the transform's values for the lowest and
        # highest possible input (a linear / sigmoid window maps them to
        # its y_min / y_max, a VOI LUT to its first / last entry).
        ends = pixels.apply_voi_lut(np.array([-np.inf, np.inf]), ds)
        values = pixels.apply_voi_lut(values, ds)
        lo, hi = float(np.min(ends)), float(np.max(ends))
    elif high_bit_depth == 'minmax':
        lo, hi = finite_range(values)
    else:
        ends = pixels.apply_modality_lut(_dicom_stored_range(ds), ds)
        lo, hi = float(np.min(ends)), float(np.max(ends))
    img = to_uint8(values, lo, hi)
    if ds.get('PhotometricInterpretation') == 'MONOCHROME1':
        img = 255 - img
    return img


def read_dicom(data: bytes,
               path: str,
               frame: SliceIndex = None,
               high_bit_depth: str = 'minmax',
               voi: bool = True) -> np.ndarray:
    """Decode one DICOM image (one frame of a multi-frame file).

    Args:
        data (bytes): The file's content.
        path (str): The file, for messages.
        frame (int | str, optional): Frame of a multi-frame file (0-based,
            or ``'middle'``); a multi-frame file without it is refused.
            Ignored for single-frame files.
        high_bit_depth (str): ``'minmax'`` or ``'scale'`` (see the module
            docstring); used when there is no VOI transform.
        voi (bool): Apply the file's window / VOI LUT when present.

    Returns:
        np.ndarray: (H, W) uint8 grayscale, or (H, W, 3) BGR colour
        (uint8 or uint16).

    Raises:
        ImportError: pydicom is not installed (names the package).
        MedicalImageError: Not a DICOM file, no pixel data, a multi-frame
            file without a frame, an undecodable transfer syntax (names
            the decoder packages), an unsupported photometric
            interpretation.
    """
    _check_mode(high_bit_depth)
    pydicom = require('pydicom', path)
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as e:  # InvalidDicomError, truncated headers, ...
        raise MedicalImageError(
            f'"{path}" is not a readable DICOM file: {e}') from e
    if not any(k in ds for k in ('PixelData', 'FloatPixelData',
                                 'DoubleFloatPixelData')):
        raise MedicalImageError(
            f'DICOM file "{path}" has no pixel data (Modality '
            f'{ds.get("Modality", "?")}, SOP class '
            f'{getattr(ds.get("SOPClassUID"), "name", "?")}); it is not an '
            'image')
    photometric = str(ds.get('PhotometricInterpretation', 'MONOCHROME2'))
    arr = _dicom_decode(ds, path, frame)
    if photometric in ('MONOCHROME1', 'MONOCHROME2'):
        if arr.ndim != 2:
            raise MedicalImageError(
                f'DICOM file "{path}" ({photometric}) decoded to shape '
                f'{arr.shape}, expected one (rows, columns) frame')
        return _dicom_gray(arr, ds, high_bit_depth, voi)
    if photometric == 'PALETTE COLOR':
        arr = importlib.import_module('pydicom.pixels').apply_color_lut(
            arr, ds)
    elif not (photometric == 'RGB' or photometric.startswith('YBR')):
        raise MedicalImageError(
            f'DICOM file "{path}": photometric interpretation '
            f'{photometric!r} is not supported (MONOCHROME1/2, RGB, YBR_*, '
            'PALETTE COLOR are)')
    # pydicom returns RGB (YBR converted); the loader's convention is BGR.
    return np.ascontiguousarray(arr[..., ::-1])


# ------------------------------------------------------------------ NIfTI
def _nifti_image(data: bytes, path: str):
    """A nibabel NIfTI-1 / NIfTI-2 image from the bytes of a .nii(.gz)."""
    nib = require('nibabel', path)
    if data[:2] == b'\x1f\x8b':
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise MedicalImageError(
                f'"{path}" is a truncated or corrupt gzip file: {e}') from e
    if len(data) < 348:
        raise MedicalImageError(
            f'"{path}" ({len(data)} bytes) is too short for a NIfTI header '
            '(348 bytes); a ".hdr/.img" pair is not supported, convert it '
            'to .nii')
    sizeof_hdr = {int.from_bytes(data[:4], 'little'),
                  int.from_bytes(data[:4], 'big')}
    klass = nib.Nifti2Image if 540 in sizeof_hdr else nib.Nifti1Image
    try:
        return klass.from_bytes(data)
    except Exception as e:  # HeaderDataError, ImageFileError, ...
        raise MedicalImageError(
            f'"{path}" is not a readable NIfTI file: {e}') from e


def read_nifti(data: bytes,
               path: str,
               slice_axis: int = 2,
               slice_index: SliceIndex = None,
               high_bit_depth: str = 'minmax') -> np.ndarray:
    """One 2-D slice of a NIfTI volume as (H, W) uint8.

    Args:
        data (bytes): The content of a ``.nii`` or ``.nii.gz`` file.
        path (str): The file, for messages.
        slice_axis (int): Voxel axis the slice is taken across (0, 1, 2).
        slice_index (int | str, optional): Index along ``slice_axis``
            (0-based, or ``'middle'``). Not needed for a 2-D image (a
            volume with one slice along the axis).
        high_bit_depth (str): ``'minmax'`` or ``'scale'``.

    Returns:
        np.ndarray: (H, W) uint8, H and W the two other voxel axes in order.

    Raises:
        ImportError: nibabel is not installed (names the package).
        MedicalImageError: Not a NIfTI file, a 4-D volume with more than
            one volume, a bad axis, a missing or out-of-range index, a
            truncated data block.
    """
    _check_mode(high_bit_depth)
    img = _nifti_image(data, path)
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        raise MedicalImageError(
            f'NIfTI file "{path}" has shape {shape}: {shape[3]} volumes '
            '(a time series or several echoes); split it into 3-D files '
            'first (e.g. nibabel.funcs.four_to_three)')
    shape = shape + (1, ) * (3 - len(shape))
    if slice_axis not in (0, 1, 2):
        raise MedicalImageError(
            f'"{path}": slice_axis must be 0, 1 or 2, got {slice_axis!r}')
    n = shape[slice_axis]
    k = 0 if n == 1 else _pick(n, slice_index, 'slice', path,
                               f' along axis {slice_axis}')
    values = _nifti_slice(img, shape, slice_axis, k, path)
    if values.dtype.kind == 'c' or values.dtype.fields is not None:
        raise MedicalImageError(
            f'NIfTI file "{path}" stores {img.get_data_dtype()} voxels; '
            'only real scalar volumes are supported')
    if high_bit_depth == 'minmax':
        lo, hi = finite_range(values)
    else:
        lo, hi = _nifti_stored_range(img, values)
    return to_uint8(values, lo, hi)


def _nifti_slice(img, shape: tuple, axis: int, k: int,
                 path: str) -> np.ndarray:
    """Slice ``k`` across ``axis`` of the (3-D ``shape``) voxel data, with
    scl_slope / scl_inter applied (only that slice is read)."""
    sel = [slice(None)] * 3
    sel[axis] = k
    try:
        proxy = img.dataobj.reshape(shape) if len(img.shape) != 3 else \
            img.dataobj
        return np.asarray(proxy[tuple(sel)])
    except Exception as e:  # truncated data block
        raise MedicalImageError(
            f'Cannot read slice {k} of NIfTI file "{path}": {e}') from e


def _nifti_stored_range(img, values: np.ndarray) -> Tuple[float, float]:
    """The on-disk dtype's range through scl_slope / scl_inter."""
    dtype = np.dtype(img.get_data_dtype())
    if dtype.kind not in 'iu':  # float volumes: their finite values
        return finite_range(values)
    info = np.iinfo(dtype)
    ends = np.array([info.min, info.max], dtype=np.float64)
    slope = img.dataobj.slope
    inter = img.dataobj.inter
    ends = ends * (1.0 if slope is None or not np.isfinite(slope) else
                   slope) + (0.0 if inter is None or not np.isfinite(inter)
                             else inter)
    return float(ends.min()), float(ends.max())


def decode_medical(data: bytes, path: str, results: dict,
                   slice_axis: int = 2, slice_index: SliceIndex = None,
                   high_bit_depth: str = 'minmax',
                   voi: bool = True) -> Optional[np.ndarray]:
    """Decode a DICOM / NIfTI file, or return None for other formats.

    The sample's own ``slice_index`` / ``slice_axis`` (from the annotation,
    e.g. a CSV column or a MultiLabelDataset JSON key) take precedence over
    the loader's defaults ``slice_index`` / ``slice_axis``. For DICOM,
    ``slice_index`` selects the frame of a multi-frame file.

    Returns:
        np.ndarray | None: See :func:`read_dicom` / :func:`read_nifti`.
    """
    fmt = medical_format(path, data)
    if fmt is None:
        return None
    index = results.get('slice_index')
    index = slice_index if index is None else index
    if fmt == 'dicom':
        return read_dicom(data, path, index, high_bit_depth, voi)
    axis = results.get('slice_axis')
    axis = slice_axis if axis is None else axis
    return read_nifti(data, path, axis, index, high_bit_depth)
