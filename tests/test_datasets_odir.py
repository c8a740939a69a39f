"""ODIR-5K: workbook reader, eye / patient modes, dataset."""
import os.path as osp

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import AnnotationError, ODIR5K, ODIR_CLASSES
from ldr_mm.datasets.odir import (ODIR_HEAD, odir_samples,
                                  read_odir_annotations, split_keywords)
from medical_helpers import (ODIR_HEADER, make_odir, odir_rows, shared_file,
                             write_odir_xlsx)


def test_keywords_split_on_fullwidth_and_ascii_commas():
    assert split_keywords('laser spot\uff0cmoderate non proliferative '
                          'retinopathy') == [
                              'laser spot',
                              'moderate non proliferative retinopathy'
                          ]
    assert split_keywords('low image quality,maculopathy') == [
        'low image quality', 'maculopathy'
    ]
    assert split_keywords(' a \uff0c b , c ,') == ['a', 'b', 'c']
    assert split_keywords(None) == []


def test_reads_fixture_workbook(tmp_path):
    rows = odir_rows(9)
    path = write_odir_xlsx(str(tmp_path / 'a.xlsx'), rows)
    patients = read_odir_annotations(path)
    assert [p.patient_id for p in patients] == [str(r[0]) for r in rows]
    assert patients[0].patient_id == '1'  # an int cell, as in the real file
    assert [p.row for p in patients] == list(range(2, 11))
    np.testing.assert_array_equal(
        np.stack([p.labels for p in patients]),
        np.array([r[7:] for r in rows]))
    assert patients[3].right_keywords == ['lens dust', 'normal fundus']
    # the same table as CSV
    import csv
    with open(tmp_path / 'a.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(ODIR_HEADER)
        w.writerows(rows)
    again = read_odir_annotations(str(tmp_path / 'a.csv'))
    assert [p.labels.tolist() for p in again] == [
        p.labels.tolist() for p in patients]


def _edit(rows, i, col, value):
    rows[i] = rows[i][:col] + (value, ) + rows[i][col + 1:]


@pytest.mark.parametrize('edit,match', [
    (lambda r: _edit(r, 2, 0, r[1][0]),
     'row 4: patient ID 4 already on row 3'),
    (lambda r: _edit(r, 1, 8, 2), 'row 3 .*label column D is 2'),
    (lambda r: _edit(r, 1, 8, 'yes'), 'row 3 .*label column D'),
    (lambda r: _edit(r, 0, 8, 1), r'row 2 .*N \(normal\) together'),
    (lambda r: _edit(r, 2, 9, 0), 'row 4 .*no label'),
    (lambda r: _edit(r, 3, 4, r[2][4]), 'row 5 .*image "7_right.jpg" already'),
    (lambda r: _edit(r, 3, 1, 'old'), 'row 5 .*Patient Age'),
])
def test_inconsistent_rows_are_refused_naming_the_row(tmp_path, edit, match):
    rows = odir_rows(6)
    edit(rows)
    path = write_odir_xlsx(str(tmp_path / 'a.xlsx'), rows)
    with pytest.raises(AnnotationError, match=match):
        read_odir_annotations(path)


def test_missing_label_column_is_refused(tmp_path):
    header = list(ODIR_HEADER)
    header[-1] = 'Other'
    path = write_odir_xlsx(str(tmp_path / 'a.xlsx'), odir_rows(3), header)
    with pytest.raises(AnnotationError, match=r"\['O'\] are missing.*Other"):
        read_odir_annotations(path)


def test_eye_and_patient_samples(tmp_path):
    patients = read_odir_annotations(
        write_odir_xlsx(str(tmp_path / 'a.xlsx'), odir_rows(9)))
    eyes = odir_samples(patients, 'eye')
    # patient 7 (pattern 'M') has 'no fundus image' on the right eye
    assert len(eyes) == 17
    m = [e for e in eyes if e['patient_id'] == '19']
    assert [e['eye'] for e in m] == ['left']
    assert m[0]['gt_label'] == [ODIR_CLASSES.index('M')]
    both = odir_samples(patients, 'patient')
    assert len(both) == 9
    assert both[1]['img_path'] == ['4_left.jpg', '4_right.jpg']
    assert both[1]['gt_label'] == [1, 7]  # D, O
    assert len(odir_samples(patients, 'eye', exclude_keywords=())) == 18


def test_dataset_modes_and_split(tmp_path):
    root = str(tmp_path)
    rows = make_odir(root, n_patients=30)
    by_split = {}
    for split in ('train', 'val', 'test'):
        ds = ODIR5K(data_root=root, split=split, pipeline=[
            dict(type='LoadMedicalImage'), dict(type='PackInputs')])
        assert ds.metainfo['classes'] == ODIR_CLASSES
        assert ds.metainfo['head_classes'] == ODIR_HEAD
        assert ds.metainfo['prompt_names'][0] == 'normal'
        by_split[split] = {ds.get_data_info(i)['patient_id']
                           for i in range(len(ds))}
        assert ds[0]['inputs'].shape == (3, 18, 22)
        pt = ODIR5K(data_root=root, split=split, mode='patient', pipeline=[
            dict(type='LoadMedicalImage'), dict(type='PackInputs')])
        assert {pt.get_data_info(i)['patient_id']
                for i in range(len(pt))} == by_split[split]
        assert pt[0]['inputs'].shape == (3, 18, 44)  # both eyes
    assert [len(by_split[s]) for s in ('train', 'val', 'test')] == [21, 3, 6]
    assert set.union(*by_split.values()) == {str(r[0]) for r in rows}
    ds = ODIR5K(data_root=root, split='all')
    d = ds.get_data_info(0)
    assert d['img_path'] == osp.join(root, 'ODIR-5K_Training_Dataset',
                                     '1_left.jpg')
    assert d['eye'] == 'left' and d['keywords'] == ['normal fundus']


def test_real_workbook_all_3500_patients():
    path = shared_file('odir5k', 'ODIR-5K_Training_Annotations(Updated)_V2'
                       '.xlsx')
    patients = read_odir_annotations(path)
    assert len(patients) == 3500
    assert len({p.patient_id for p in patients}) == 3500
    by_id = {p.patient_id: p for p in patients}
    # row 372: 'low image quality,maculopathy' (ASCII comma)
    assert by_id['372'].left_keywords == ['low image quality', 'maculopathy']
    assert by_id['2'].left_keywords == [
        'laser spot', 'moderate non proliferative retinopathy']
    eyes = odir_samples(patients, 'eye')
    assert len(eyes) == 7000 - 3  # 1 'no fundus image', 2 'anterior segment'
    assert len({e['patient_id'] for e in eyes}) == 3500
