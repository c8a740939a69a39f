"""What the medical datasets share lives once in ``datasets/base.py`` and
``datasets/uncertain.py``: the default metadata file, the gzipped raw
files, the patient-split settings and the uncertain-label policy."""
import gzip
import os.path as osp
import re

import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import (CheXpert, MIMICCXRJPG, MultiLabelCSVDataset,
                             NIHChestXray14, ODIR5K, AxSpADataset)
from ldr_mm.datasets.base import AnnotationError, first_file
from ldr_mm.datasets.nih import NIH_ANN_FILES
from ldr_mm.datasets.odir import ODIR_ANN_FILES


def test_first_file_prefers_the_first_existing_name(tmp_path):
    for name in ('b.csv', 'b.csv.gz'):
        (tmp_path / name).write_text('x')
    assert first_file(str(tmp_path), ('a.csv', 'b.csv', 'b.csv.gz'),
                      'none') == 'b.csv'
    assert first_file(str(tmp_path), ('a.csv', 'b.csv.gz'), 'none') == \
        'b.csv.gz'
    with pytest.raises(FileNotFoundError, match='^none here$'):
        first_file(str(tmp_path), ('a.csv', ), 'none here')


@pytest.mark.parametrize('cls,names,kind', [
    (NIHChestXray14, NIH_ANN_FILES, 'NIH metadata file'),
    (ODIR5K, ODIR_ANN_FILES, 'ODIR-5K annotation workbook'),
])
def test_default_ann_file_is_found_or_named(tmp_path, cls, names, kind):
    with pytest.raises(FileNotFoundError,
                       match=f'No {kind} under .*{re.escape(names[0])}.*'
                       'set ann_file='):
        cls(data_root=str(tmp_path), split='train')
    (tmp_path / names[-1]).write_text('')
    assert cls.find_ann_file(str(tmp_path)) == names[-1]
    ds = cls(data_root=str(tmp_path), split='train', lazy_init=True)
    assert ds.ann_file == osp.join(str(tmp_path), names[-1])


def test_raw_file_reads_gzip_and_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'MIMICCXRJPG: ".*mimic-cxr-2.0.0-chexpert.csv" '
                       r'\(or .gz\) does not exist; data_root must be'):
        MIMICCXRJPG(data_root=str(tmp_path), split='train')
    with gzip.open(tmp_path / 'train.csv.gz', 'wt') as f:
        f.write('Path\n')
    ds = CheXpert(data_root=str(tmp_path), split='train', lazy_init=True)
    assert ds.raw_file('train') == str(tmp_path / 'train.csv.gz')


@pytest.mark.parametrize('cls,kw', [
    (NIHChestXray14, dict(ann_file='x.csv')),
    (ODIR5K, dict(ann_file='x.csv')),
    (AxSpADataset, {}),
    (CheXpert, {}),
    (MultiLabelCSVDataset, dict(ann_file='x.csv', classes=['a'])),
])
def test_patient_split_settings(tmp_path, cls, kw):
    ds = cls(data_root=str(tmp_path), split='train', lazy_init=True, **kw)
    assert (ds.split_ratios, ds.split_seed) == ((0.7, 0.1, 0.2), 0)
    ds = cls(data_root=str(tmp_path), split='train', lazy_init=True,
             split_ratios=[8, 1, 1], split_seed=3, **kw)
    assert (ds.split_ratios, ds.split_seed) == ((8, 1, 1), 3)


def test_official_split_datasets_take_no_split_settings(tmp_path):
    with pytest.raises(TypeError, match='split_seed'):
        MIMICCXRJPG(data_root=str(tmp_path), split='train', split_seed=1,
                    lazy_init=True)


@pytest.mark.parametrize('cls,kw', [
    (CheXpert, {}),
    (MIMICCXRJPG, {}),
    (MultiLabelCSVDataset, dict(ann_file='x.csv', classes=['a'])),
])
def test_uncertain_policy(tmp_path, cls, kw):
    ds = cls(data_root=str(tmp_path), split='train', lazy_init=True, **kw)
    assert ds.uncertain == 'zeros'
    ds = cls(data_root=str(tmp_path), split='train', lazy_init=True,
             uncertain='ignore', **kw)
    assert ds.uncertain == 'ignore'
    with pytest.raises(ValueError,
                       match=f'{cls.__name__}: uncertain must be one of'):
        cls(data_root=str(tmp_path), split='train', lazy_init=True,
            uncertain='maybe', **kw)


def test_conflicting_patient_value_names_both_rows(tmp_path):
    from ldr_mm.datasets.base import check_patient_value
    seen = {}
    check_patient_value(seen, 'p1', 'sex', 'F', '"a.csv" line 2', 'line 2')
    check_patient_value(seen, 'p1', 'age', '40', '"a.csv" line 2', 'line 2')
    check_patient_value(seen, 'p1', 'sex', 'F', '"a.csv" line 3', 'line 3')
    with pytest.raises(AnnotationError,
                       match='^"a.csv" line 4: patient p1 has sex="M" but '
                       'sex="F" at line 2 '
                       r'\(conflicting patient metadata\)$'):
        check_patient_value(seen, 'p1', 'sex', 'M', '"a.csv" line 4',
                            'line 4')
