"""Common behaviour of the medical multi-label datasets."""
import glob
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import mmengine
import numpy as np
from mmengine.logging import MMLogger

from mmpretrain.datasets import MultiLabelDataset

from .errors import AnnotationError
from .label_check import label_indices, sample_name
from .splits import DEFAULT_RATIOS, SPLIT_CHOICES


def join_path(base: str, path: str) -> str:
    """``base/path`` unless ``path`` is absolute or ``base`` empty."""
    if not base or osp.isabs(path) or '://' in path:
        return path
    return osp.join(base, path)


def first_file(root: str, names: Sequence[str], missing: str) -> str:
    """The first of ``names`` (relative to ``root``) that is a file.

    For a file that ships under several names (versions, ``.gz`` or not).

    Args:
        root (str): Folder the names are relative to.
        names (Sequence[str]): Candidate names, preferred first.
        missing (str): The ``FileNotFoundError`` message when none exists.

    Returns:
        str: That name (as given, not joined with ``root``).
    """
    for name in names:
        if osp.isfile(join_path(root, name)):
            return name
    raise FileNotFoundError(missing)


def check_patient_value(seen: Dict[tuple, tuple], pid: str, column: str,
                        value: str, where: str, row: str) -> None:
    """A per-patient column (sex, age, split ...) has one value per patient.

    Args:
        seen (dict): ``{(patient, column): (value, row)}`` of the rows read
            so far; this row's value is added.
        pid (str): The row's patient.
        column (str): The column, as the message names it.
        value (str): The row's value.
        where (str): The file and row, to start the message.
        row (str): The row alone (``'line 3'``), for a later message.

    Raises:
        AnnotationError: An earlier row gave the patient another value.
    """
    prev = seen.setdefault((pid, column), (value, row))
    if prev[0] != value:
        raise AnnotationError(
            f'{where}: patient {pid} has {column}="{value}" but {column}='
            f'"{prev[0]}" at {prev[1]} (conflicting patient metadata)')


class ImageIndex:
    """Find image files by name under a dataset root.

    Users unpack archives in different layouts (NIH: ``images_001/images/``
    ... or one flat ``images/``; ODIR-5K: ``ODIR-5K_Training_Dataset/`` or
    ``ODIR-5K/Training Images/``). The index scans the directories matching
    ``patterns`` (globs relative to ``root``, in priority order; the first
    directory holding a name wins) once, with ``os.scandir``.

    Args:
        root (str): The dataset root.
        patterns (Sequence[str]): Directory globs relative to ``root``.
        suffixes (Sequence[str]): File name endings to index.
        progress (bool): A progress bar over the scanned directories
            (MMEngine's, as the dataset tools show theirs). Defaults to
            False.
    """

    def __init__(self, root: str, patterns: Sequence[str],
                 suffixes: Sequence[str] = ('.png', '.jpg', '.jpeg'),
                 progress: bool = False):
        from mmengine.utils import track_iter_progress
        self.root = root
        self.patterns = list(patterns)
        self.dirs: List[str] = []
        self._where: Dict[str, str] = {}
        suffixes = tuple(s.lower() for s in suffixes)
        for pattern in self.patterns:
            for d in sorted(glob.glob(osp.join(glob.escape(root), pattern))):
                if osp.isdir(d) and d not in self.dirs:
                    self.dirs.append(d)
        # file=sys.stdout at call time: where print() writes now
        for d in (track_iter_progress(self.dirs, file=sys.stdout)
                  if progress and self.dirs else self.dirs):
            with os.scandir(d) as it:
                for entry in it:
                    if entry.name.lower().endswith(suffixes) and \
                            entry.is_file():
                        self._where.setdefault(entry.name, d)

    def __len__(self) -> int:
        return len(self._where)

    def find(self, name: str) -> Optional[str]:
        d = self._where.get(name)
        return None if d is None else osp.join(d, name)

    def resolve(self, names: Sequence[str], what: str) -> List[str]:
        """Paths of ``names``; raise naming the missing ones."""
        paths, missing = [], []
        for n in names:
            p = self.find(n)
            if p is None:
                missing.append(n)
            paths.append(p)
        if missing:
            searched = ', '.join(
                f'"{p}"' for p in self.patterns) or '(no pattern)'
            raise FileNotFoundError(
                f'{len(missing)} of the {len(names)} images of {what} are '
                f'not under "{self.root}" (searched {searched}; found '
                f'{len(self)} image files in {len(self.dirs)} directories). '
                f'First missing: {missing[:5]}. Unpack all image archives '
                'there, or set `img_dir` to the folder that holds them.')
        return paths


class PatientSplitMixin:
    """The settings of a dataset's seeded patient-level split.

    Stored as ``split_ratios`` (tuple) and ``split_seed`` for the
    subclass's :meth:`load_raw`; the converters given the same values
    write the same split.

    Args:
        split_ratios (Sequence[float]): (train, val, test) shares.
            Defaults to :data:`~ldr_mm.datasets.splits.DEFAULT_RATIOS`.
        split_seed (int): Split seed. Defaults to 0.
    """

    def __init__(self,
                 *args,
                 split_ratios: Sequence[float] = DEFAULT_RATIOS,
                 split_seed: int = 0,
                 **kwargs):
        self.split_ratios = tuple(split_ratios)
        self.split_seed = split_seed
        super().__init__(*args, **kwargs)


def find_images(root: str, names: Sequence[str], img_dir: Optional[str],
                patterns: Sequence[str], what: str) -> List[str]:
    """Paths of the image files ``names`` of a dataset under ``root``.

    Args:
        root (str): The image root.
        names (Sequence[str]): File names.
        img_dir (str, optional): None: search the folders ``patterns``
            (:class:`ImageIndex`) and raise naming the missing images; a
            folder relative to ``root``: the names joined to it unchecked
            (remote storage).
        patterns (Sequence[str]): Folder globs to search, in priority order.
        what (str): The images' source, for the error.
    """
    if img_dir is None:
        return ImageIndex(root, patterns).resolve(names, what)
    base = join_path(root, img_dir)
    return [join_path(base, n) for n in names]


class MedicalMultiLabelDataset(MultiLabelDataset):
    """:class:`MultiLabelDataset` reading raw medical metadata or JSON.

    Subclasses read their dataset's own metadata (``ann_file`` = the CSV /
    xlsx the dataset ships with) and select a patient-level ``split``. An
    ``ann_file`` ending in ``.json`` is read as MMPretrain's
    ``MultiLabelDataset`` format instead (what ``tools/dataset_converters``
    write), after checking that its classes are this dataset's classes and,
    when the file records a ``split`` in its metainfo, that it is the
    requested one.

    Every sample carries ``img_path``, ``gt_label`` (class indices; an empty
    list is the all-zero vector) and ``patient_id``.

    Unlike MMEngine's dataset, a pipeline that returns ``None`` (e.g.
    MMCV's loader with ``ignore_empty=True``) is an error naming the image,
    not a silent switch to another random sample.

    Args:
        ann_file (str): Raw metadata file or ``.json`` annotation file,
            relative to ``data_root``.
        split (str, optional): ``'train'``, ``'val'``, ``'test'``,
            ``'trainval'`` or ``'all'``. Required for raw metadata; for a
            JSON file it must match the file's ``metainfo['split']`` (or be
            None).
        **kwargs: Other :class:`MultiLabelDataset` arguments.
    """
    #: Subclasses: ``classes``, ``head_classes``, ``tail_classes``,
    #: ``prompt_names``.
    METAINFO: dict = {}
    #: Whether the raw format itself can be a JSON file (without metainfo).
    RAW_JSON = False
    #: Names the raw metadata file ships under, preferred first: the
    #: default ``ann_file`` is the first that exists (what it is:
    #: ``ANN_FILE_KIND``, for the error).
    ANN_FILES: Tuple[str, ...] = ()
    ANN_FILE_KIND = 'metadata file'
    #: Raw metadata files in ``data_root`` by key, each possibly gzipped
    #: (:meth:`raw_file`); ``RAW_FILES_HINT`` ends its error.
    RAW_FILES: Dict[str, str] = {}
    RAW_FILES_HINT = ''

    def __init__(self, ann_file: Optional[str], split: Optional[str] = None,
                 **kwargs):
        if split is not None and split not in SPLIT_CHOICES:
            raise ValueError(f'{type(self).__name__}: unknown split '
                             f'{split!r}; choose one of {SPLIT_CHOICES}')
        self.split = split
        if ann_file is None and self.ANN_FILES:
            ann_file = self.find_ann_file(kwargs.get('data_root', ''))
        super().__init__(ann_file=ann_file, **kwargs)

    @classmethod
    def find_ann_file(cls, data_root: str) -> str:
        """The first of :attr:`ANN_FILES` under ``data_root``."""
        return first_file(
            data_root, cls.ANN_FILES,
            f'No {cls.ANN_FILE_KIND} under "{data_root}" (looked for '
            f'{list(cls.ANN_FILES)}); set ann_file=')

    def raw_file(self, key: str) -> str:
        """``data_root``/``RAW_FILES[key]``, or that name + ``.gz``."""
        path = join_path(self.data_root, self.RAW_FILES[key])
        return first_file('', (path, path + '.gz'), (
            f'{type(self).__name__}: "{path}" (or .gz) does not exist; '
            f'{self.RAW_FILES_HINT}'))

    # ----------------------------------------------------------- loading
    @property
    def image_root(self) -> str:
        """``data_root`` joined with ``data_prefix`` (MMEngine's rule)."""
        return self.data_prefix.get('img_path') or self.data_root or ''

    def load_data_list(self) -> List[dict]:
        if self.ann_file.lower().endswith('.json'):
            ann = mmengine.load(self.ann_file)
            if isinstance(ann, dict) and 'metainfo' in ann:
                return self._load_json(ann)
            if not self.RAW_JSON:
                raise AnnotationError(
                    f'"{self.ann_file}" is not a MultiLabelDataset annotation'
                    ' file (a dict with "metainfo" and "data_list")')
        if self.split is None:
            raise ValueError(
                f'{type(self).__name__} reads the raw metadata "'
                f'{self.ann_file}": set split= one of {SPLIT_CHOICES}')
        data_list = self.load_raw()
        if not data_list:
            raise AnnotationError(
                f'{type(self).__name__}: split "{self.split}" of '
                f'"{self.ann_file}" has no samples; check the split '
                'column/ratios (split_ratios=, split_seed=) or choose '
                "another split (e.g. 'trainval')")
        MMLogger.get_current_instance().info(
            f'{type(self).__name__}: {len(data_list)} images, '
            f'{len({d["patient_id"] for d in data_list})} patients in split '
            f'"{self.split}" of "{self.ann_file}"')
        return data_list

    def load_raw(self) -> List[dict]:
        """Samples of ``self.split`` from the raw metadata file."""
        raise NotImplementedError

    def _load_json(self, ann: dict) -> List[dict]:
        if not isinstance(ann, dict) or 'data_list' not in ann:
            raise AnnotationError(
                f'"{self.ann_file}" is not a MultiLabelDataset annotation '
                'file (a dict with "metainfo" and "data_list")')
        meta = dict(ann.get('metainfo') or {})
        ours = list(self._metainfo.get('classes') or [])
        theirs = meta.get('classes')
        if ours and theirs is not None and list(theirs) != ours:
            raise AnnotationError(
                f'"{self.ann_file}" has the classes {list(theirs)}, but '
                f'{type(self).__name__} has {ours}; the labels would be '
                'misread. Use the matching dataset type or MultiLabelDataset '
                'with that file.')
        file_split = meta.get('split')
        if self.split is not None and file_split is not None and \
                file_split != self.split:
            raise AnnotationError(
                f'split="{self.split}" but "{self.ann_file}" holds the '
                f'"{file_split}" split')
        if self.split is not None and file_split is None:
            raise AnnotationError(
                f'split="{self.split}" but "{self.ann_file}" does not say '
                'which split it is (no metainfo "split"); set split=None')
        for k, v in meta.items():
            self._metainfo.setdefault(k, v)
        C = len(self._metainfo.get('classes') or [])
        if not ann['data_list']:
            raise AnnotationError(
                f'"{self.ann_file}" has an empty data_list (no samples); '
                're-run the converter or choose another split')
        out = []
        for i, raw in enumerate(ann['data_list']):
            if 'img_path' not in raw or 'gt_label' not in raw:
                raise AnnotationError(
                    f'"{self.ann_file}" data_list[{i}] lacks img_path or '
                    'gt_label')
            info = dict(raw)
            info['gt_label'] = label_indices(
                raw['gt_label'], C,
                f'"{self.ann_file}" {sample_name(raw, i)}')
            p = raw['img_path']
            info['img_path'] = [join_path(self.image_root, q) for q in p] \
                if isinstance(p, (list, tuple)) else join_path(
                    self.image_root, p)
            out.append(info)
        return out

    def full_init(self):
        super().full_init()
        # every gt_label was checked while loading (JSON) or made from
        # checked metadata (raw): ClassConsistencyHook need not re-check
        self._ldr_labels_checked = True

    # ------------------------------------------------------------ access
    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            self.full_init()
        data = self.prepare_data(idx)
        if data is None:
            raise RuntimeError(
                f'The pipeline returned None for sample {idx} '
                f'("{self.get_data_info(idx).get("img_path")}"). '
                f'{type(self).__name__} does not silently replace samples; '
                'fix or remove the file (and use LoadMedicalImage, which '
                'raises a clear error instead).')
        return data

    def label_matrix(self) -> np.ndarray:
        """(N, C) uint8 multi-hot labels of all samples."""
        C = len(self.metainfo['classes'])
        m = np.zeros((len(self), C), dtype=np.uint8)
        for i in range(len(self)):
            m[i, self.get_data_info(i)['gt_label']] = 1
        return m

    def positive_counts(self) -> np.ndarray:
        """(C,) positives per class."""
        return self.label_matrix().sum(0).astype(np.int64)

    def extra_repr(self) -> List[str]:
        body = super().extra_repr()
        body.append(f'Split: \t{self.split}')
        return body

