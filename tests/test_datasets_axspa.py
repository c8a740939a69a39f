"""AxSpA slice table: formats, checks, splits, dataset."""
import json
import os.path as osp
import re

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import AnnotationError, AxSpADataset, AXSPA_CLASSES
from ldr_mm.datasets.axspa import AXSPA_HEAD, axspa_split, \
    read_axspa_annotations
from medical_helpers import AXSPA, axspa_rows, make_axspa, write_axspa_csv


def labels_of(row):
    return [i for i, c in enumerate(AXSPA) if row[c] == '1']


def as_labels_column(rows):
    out = []
    for r in rows:
        d = {k: v for k, v in r.items() if k not in AXSPA}
        d['labels'] = '|'.join(c for c in AXSPA if r[c] == '1')
        out.append(d)
    return out


def test_three_equivalent_formats(tmp_path):
    rows = axspa_rows(4, 3)
    a = read_axspa_annotations(write_axspa_csv(str(tmp_path / 'a.csv'),
                                               rows))
    b = read_axspa_annotations(
        write_axspa_csv(str(tmp_path / 'b.csv'), as_labels_column(rows)))
    recs = [dict(patient_id=r['patient_id'], img_path=r['img_path'],
                 slice_index=int(r['slice_index']),
                 labels=[c for c in AXSPA if r[c] == '1']) for r in rows]
    with open(tmp_path / 'c.json', 'w') as f:
        json.dump(recs, f)
    c = read_axspa_annotations(str(tmp_path / 'c.json'))
    with open(tmp_path / 'd.json', 'w') as f:
        json.dump({'data_list': recs}, f)
    d = read_axspa_annotations(str(tmp_path / 'd.json'))
    for x in (a, b, c, d):
        assert x.img_paths == [r['img_path'] for r in rows]
        assert x.patient_ids == [r['patient_id'] for r in rows]
        assert x.slice_index == [int(r['slice_index']) for r in rows]
        assert [np.flatnonzero(v).tolist()
                for v in x.labels] == [labels_of(r) for r in rows]


def _rows_with(edit):
    rows = axspa_rows(3, 3)
    for r in rows:
        r['sex'] = 'F'
    edit(rows)
    return rows


#: Rows that contradict an earlier one: (edit of the rows, the message
#: after the file's quoted path).
CONFLICTS = [
    (lambda r: r[2].__setitem__('img_path', r[0]['img_path']),
     'line 4: image "P0000/slice_00.png" is already listed at line 2'),
    (lambda r: r[2].__setitem__('slice_index', '0'),
     'line 4: patient P0000 slice 0 is already listed at line 2'),
    (lambda r: r[1].__setitem__('sex', 'M'),
     'line 3: patient P0000 has sex="M" but sex="F" at line 2 '
     '(conflicting patient metadata)'),
]


@pytest.mark.parametrize('edit,match', [
    (edit, re.escape(message)) for edit, message in CONFLICTS] + [
    (lambda r: r[4].__setitem__('BMEL', '2'), 'line 6: label BMEL is'),
    (lambda r: r[4].__setitem__('patient_id', ''), 'line 6: empty'),
])
def test_inconsistent_rows_are_refused(tmp_path, edit, match):
    path = write_axspa_csv(str(tmp_path / 'a.csv'), _rows_with(edit))
    with pytest.raises(AnnotationError, match=match):
        read_axspa_annotations(path)


def test_unknown_columns_and_label_names(tmp_path):
    rows = axspa_rows(2, 2)
    for r in rows:  # the paper's typo "OR/RL"
        r['RL'] = r.pop('OL')
    path = write_axspa_csv(str(tmp_path / 'a.csv'), rows)
    with pytest.raises(AnnotationError, match=r"unknown column\(s\) \['RL'\]"):
        read_axspa_annotations(path)
    with pytest.raises(AnnotationError, match=r"\['OL'\] are missing"):
        read_axspa_annotations(path, ignore_columns=['RL'])
    rows = as_labels_column(axspa_rows(2, 2))
    rows[1]['labels'] = 'ER|BME_R'
    path = write_axspa_csv(str(tmp_path / 'b.csv'), rows)
    with pytest.raises(AnnotationError,
                       match=r"line 3: unknown label\(s\) \['BME_R'\]"):
        read_axspa_annotations(path)
    rows = axspa_rows(2, 2)
    for r in rows:
        r['scanner'] = 'A'
    path = write_axspa_csv(str(tmp_path / 'c.csv'), rows)
    assert len(read_axspa_annotations(path, ignore_columns=['scanner'])) == 4


def test_fixed_split_column_and_patient_split(tmp_path):
    rows = axspa_rows(10, 4)
    for r in rows:
        p = int(r['patient_id'][1:])
        r['split'] = 'test' if p < 2 else ('val' if p == 2 else 'train')
    ann = read_axspa_annotations(write_axspa_csv(str(tmp_path / 'a.csv'),
                                                 rows))
    s = axspa_split(ann)
    assert (s == np.array([r['split'] for r in rows])).all()
    s = axspa_split(ann, 'patient')
    assert [int((s == k).sum()) for k in ('train', 'val', 'test')] == [
        28, 4, 8]
    pids = np.asarray(ann.patient_ids)
    assert all(len(set(s[pids == p])) == 1 for p in set(ann.patient_ids))
    rows[1]['split'] = 'val'  # patient P0000 in two splits
    path = write_axspa_csv(str(tmp_path / 'b.csv'), rows)
    with pytest.raises(AnnotationError, match='line 3: patient P0000 has '
                       'split="val"'):
        read_axspa_annotations(path)


def test_dataset(tmp_path):
    root = str(tmp_path)
    rows = make_axspa(root, n_patients=10, slices=3)
    seen = {}
    for split in ('train', 'val', 'test'):
        ds = AxSpADataset(data_root=root, split=split, pipeline=[
            dict(type='LoadMedicalImage'), dict(type='PackInputs')])
        assert ds.metainfo['classes'] == AXSPA_CLASSES
        assert ds.metainfo['head_classes'] == AXSPA_HEAD
        assert ds.metainfo['prompt_names'][7] == 'osteophyte left'
        for i in range(len(ds)):
            d = ds.get_data_info(i)
            seen[osp.relpath(d['img_path'], root)] = (split, d)
        assert ds[0]['inputs'].shape == (3, 20, 20)
    assert len(seen) == 30
    for r in rows:
        split, d = seen[r['img_path']]
        assert d['gt_label'] == labels_of(r)
        assert d['patient_id'] == r['patient_id']
        assert d['slice_index'] == int(r['slice_index'])
    import os
    os.remove(osp.join(root, rows[0]['img_path']))
    with pytest.raises(FileNotFoundError, match='slice_00.png .*line 2'):
        AxSpADataset(data_root=root, split='all')
    assert len(AxSpADataset(data_root=root, split='all',
                            check_files=False)) == 30


@pytest.mark.parametrize('edit,message', CONFLICTS)
def test_row_messages_when_paths_have_spaces(tmp_path, edit, message):
    """The earlier row is named ``line N`` also when the annotation file's
    path contains spaces (it was cut out of the message at the first
    space of the path: 'already listed at data/a b.csv" line 2')."""
    path = write_axspa_csv(str(tmp_path / 'my data' / 'a b.csv'),
                           _rows_with(edit))
    with pytest.raises(AnnotationError) as err:
        read_axspa_annotations(path)
    assert str(err.value) == f'"{path}" {message}'
    recs = [dict(r, slice_index=int(r['slice_index']))
            for r in _rows_with(edit)]
    json_path = str(tmp_path / 'my data' / 'a b.json')
    with open(json_path, 'w') as f:
        json.dump(recs, f)
    with pytest.raises(AnnotationError) as err:
        read_axspa_annotations(json_path)
    # JSON records count from 0, CSV lines from 2 (after the header)
    json_message = message.replace('line 4', 'record 2').replace(
        'line 3', 'record 1').replace('line 2', 'record 0')
    assert str(err.value) == f'"{json_path}" {json_message}'


def test_image_paths_with_spaces(tmp_path):
    """Spaces inside ``img_path`` and ``data_root`` are kept: the slices
    load and the labels stay with their images."""
    from medical_helpers import write_image
    root = str(tmp_path / 'sacroiliac MRI')
    rows = axspa_rows(4, 2)
    for i, r in enumerate(rows):
        r['img_path'] = f'patient {r["patient_id"]}/slice {i:02d}.png'
        write_image(osp.join(root, r['img_path']), 'gray', (20, 20), seed=i)
    write_axspa_csv(osp.join(root, 'annotations.csv'), rows)
    ds = AxSpADataset(data_root=root, split='all', pipeline=[
        dict(type='LoadMedicalImage'), dict(type='PackInputs')])
    assert [osp.relpath(ds.get_data_info(i)['img_path'], root)
            for i in range(len(ds))] == [r['img_path'] for r in rows]
    assert [ds.get_data_info(i)['gt_label']
            for i in range(len(ds))] == [labels_of(r) for r in rows]
    assert ds[0]['inputs'].shape == (3, 20, 20)
