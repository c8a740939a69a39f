"""Turn user inputs (images, folders, list files, arrays) into work items."""
import os
import os.path as osp
from typing import Iterable, List, NamedTuple, Optional, Sequence, Union

import numpy as np

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff',
                    '.webp', '.pgm', '.ppm', '.pbm', '.dcm', '.dicom',
                    '.nii', '.nii.gz')


class UnreadableImageError(RuntimeError):
    """An image file could not be read or decoded."""

    def __init__(self, path: str, reason: str):
        super().__init__(f'Cannot read image "{path}": {reason}')
        self.path = path
        self.reason = reason


class InputItem(NamedTuple):
    """One image to run.

    Attributes:
        source: A file path, or an (H, W[, 3]) array (BGR, like OpenCV).
        name (str): The path, or ``'array_<i>'`` for arrays.
        skip_on_error (bool): True for files found in a folder or list file
            (an unreadable one is skipped with a warning); False for images
            given one by one (an unreadable one is an error).
    """
    source: Union[str, np.ndarray]
    name: str
    skip_on_error: bool


class CollectedInputs(NamedTuple):
    items: List[InputItem]
    ignored: List[str]  # other files in folders (no image extension)


def _folder_files(folder: str, recursive: bool,
                  extensions: Sequence[str]):
    """(image files, other files) of ``folder``. A file without one of the
    ``extensions`` still counts as an image when it has the DICOM marker
    and ``extensions`` include a DICOM one (DICOM files often have no
    extension, or a UID's last number as one)."""
    from ldr_mm.datasets.transforms.medical_io import (DICOM_SUFFIXES,
                                                       is_dicom_file)
    sniff = any(e in DICOM_SUFFIXES for e in extensions)
    images, ignored = [], []
    if recursive:
        walk = ((d, sorted(fs)) for d, _, fs in sorted(os.walk(folder)))
    else:
        walk = [(folder, sorted(f for f in os.listdir(folder)
                                if osp.isfile(osp.join(folder, f))))]
    for d, files in walk:
        for f in files:
            if f.startswith('.'):
                continue  # hidden files, our own temporaries
            path = osp.join(d, f)
            (images if f.lower().endswith(tuple(extensions)) or (
                sniff and is_dicom_file(path)) else ignored).append(path)
    return images, ignored


def read_list_file(path: str) -> List[str]:
    """Image paths, one per line (``#`` comments and blank lines skipped).

    Relative paths are relative to the list file's folder.
    """
    base = osp.dirname(osp.abspath(path))
    out = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            out.append(line if osp.isabs(line) else osp.join(base, line))
    return out


def collect_inputs(inputs: Union[str, np.ndarray, Iterable],
                   recursive: bool = False,
                   extensions: Sequence[str] = IMAGE_EXTENSIONS,
                   skip_unreadable: Optional[bool] = None
                   ) -> CollectedInputs:
    """Expand inputs into :class:`InputItem` s.

    Args:
        inputs: An image path, a folder (its image files, sorted by name), a
            ``.txt`` list file (one image path per line), an array, or a list
            of any of these.
        recursive (bool): Descend into sub-folders of folders.
        extensions (Sequence[str]): File name endings counted as images in
            folders (with a DICOM ending among them, a file with the DICOM
            marker counts too, whatever its name).
        skip_unreadable (bool, optional): Force the error policy for every
            item; by default files from folders and list files are skipped
            when unreadable and single images raise.

    Raises:
        FileNotFoundError: A path given directly does not exist.
    """
    if isinstance(inputs, (str, np.ndarray)) or not isinstance(
            inputs, Iterable):
        inputs = [inputs]
    items, ignored = [], []
    extensions = tuple(e.lower() for e in extensions)

    def policy(default):
        return default if skip_unreadable is None else bool(skip_unreadable)

    n_arrays = 0
    for inp in inputs:
        if isinstance(inp, np.ndarray):
            items.append(InputItem(inp, f'array_{n_arrays}', policy(False)))
            n_arrays += 1
        elif isinstance(inp, (str, os.PathLike)):
            inp = os.fspath(inp)
            if osp.isdir(inp):
                files, skipped = _folder_files(inp, recursive, extensions)
                items += [InputItem(f, f, policy(True)) for f in files]
                ignored += skipped
            elif inp.lower().endswith('.txt') and osp.isfile(inp):
                items += [InputItem(f, f, policy(True))
                          for f in read_list_file(inp)]
            elif osp.isfile(inp):
                items.append(InputItem(inp, inp, policy(False)))
            else:
                raise FileNotFoundError(
                    f'Input "{inp}" is neither an image file, a folder nor a '
                    '.txt list of images')
        else:
            raise TypeError(f'Unsupported input of type {type(inp)}: give '
                            'paths, folders, .txt lists or arrays')
    return CollectedInputs(items, ignored)
