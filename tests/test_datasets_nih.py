"""NIH ChestX-ray14: metadata reader (both layouts), splits, dataset."""
import csv
import gzip
import json
import os.path as osp

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import AnnotationError, NIHChestXray14, NIH_CLASSES
from ldr_mm.datasets.converters import convert_nih
from ldr_mm.datasets.nih import NIH_HEAD, nih_split, read_nih_metadata
from medical_helpers import make_nih, nih_rows, shared_file, write_nih_csv
from mmpretrain.datasets import MultiLabelDataset


def expected_labels(finding_cell):
    if finding_cell == 'No Finding':
        return []
    return sorted(NIH_CLASSES.index(x) for x in finding_cell.split('|'))


@pytest.mark.parametrize('layout,suffix', [('v2020', '.csv'),
                                           ('2017', '.csv'),
                                           ('2017', '.csv.gz')])
def test_reads_both_layouts(tmp_path, layout, suffix):
    rows = nih_rows(5, 3)
    path = write_nih_csv(str(tmp_path / f'Data_Entry{suffix}'), rows, layout)
    meta = read_nih_metadata(path)
    assert meta.layout == layout
    assert meta.names == [r[0] for r in rows]
    assert meta.patient_ids == [r[3] for r in rows]
    assert meta.lines == list(range(2, len(rows) + 2))
    for i, r in enumerate(rows):
        assert meta.label_lists[i] == expected_labels(r[1])
        assert np.flatnonzero(meta.labels[i]).tolist() == meta.label_lists[i]


def test_2017_layout_derived_from_real_rows(tmp_path):
    real = shared_file('nih_chestxray14', 'Data_Entry_2017_v2020.csv.gz')
    with gzip.open(real, 'rt', newline='') as f:
        lines = [f.readline() for _ in range(61)]
    rows = list(csv.reader(lines[1:]))
    assert len(next(csv.reader(lines[:1]))) == 11
    assert all(len(r) == 11 for r in rows)
    v2020 = tmp_path / 'Data_Entry_2017_v2020.csv'
    v2020.write_text(''.join(lines))  # verbatim
    path = write_nih_csv(str(tmp_path / 'Data_Entry_2017.csv'), rows, '2017')
    with open(path) as f:
        assert f.readline().rstrip('\n').endswith('y],')  # trailing column
    old, new = read_nih_metadata(path), read_nih_metadata(str(v2020))
    assert old.layout == '2017' and new.layout == 'v2020'
    assert old.names == new.names == [r[0] for r in rows]
    assert old.patient_ids == new.patient_ids == [
        str(int(r[3])) for r in rows]
    np.testing.assert_array_equal(old.labels, new.labels)
    for i, r in enumerate(rows):
        assert new.label_lists[i] == expected_labels(r[1])
    assert new.labels[0].tolist() == [0, 1] + [0] * 12  # Cardiomegaly


@pytest.mark.parametrize('edit,match', [
    (lambda r: r[1].__setitem__(1, 'Pleural Thickening'),
     'line 3 .*unknown finding "Pleural Thickening".*Pleural_Thickening'),
    (lambda r: r[1].__setitem__(1, 'No Finding|Mass'),
     "line 3 .*'No Finding' combined"),
    (lambda r: r[1].__setitem__(1, 'Mass|Mass'), 'line 3 .*repeated'),
    (lambda r: r[2].__setitem__(0, r[0][0]),
     'line 4: image .*listed twice.*line 2'),
    (lambda r: r[2].__setitem__(5, 'F' if r[0][5] == 'M' else 'M'),
     'line 4: patient 1 .*Gender.*conflicting'),
    (lambda r: r[3].__setitem__(3, ''), 'line 5: empty Patient ID'),
])
def test_inconsistent_rows_are_refused_naming_the_line(tmp_path, edit, match):
    rows = nih_rows(3, 3)
    edit(rows)
    path = write_nih_csv(str(tmp_path / 'd.csv'), rows)
    with pytest.raises(AnnotationError, match=match):
        read_nih_metadata(path)


def test_bad_header_and_field_count(tmp_path):
    p = tmp_path / 'd.csv'
    p.write_text('Image,Labels\na.png,Mass\n')
    with pytest.raises(AnnotationError, match='missing'):
        read_nih_metadata(str(p))
    rows = nih_rows(2, 2)
    rows[1] = rows[1] + ['x', 'y']
    with pytest.raises(AnnotationError, match='line 3: 13 fields'):
        read_nih_metadata(write_nih_csv(str(tmp_path / 'e.csv'), rows))


def test_patient_split_is_seeded_and_patient_level(tmp_path):
    rows = nih_rows(40, 3)
    meta = read_nih_metadata(write_nih_csv(str(tmp_path / 'd.csv'), rows))
    a = nih_split(meta, seed=0)
    np.testing.assert_array_equal(a, nih_split(meta, seed=0))
    assert (a != nih_split(meta, seed=1)).any()
    pids = np.asarray(meta.patient_ids)
    for p in set(meta.patient_ids):
        assert len(set(a[pids == p])) == 1
    counts = {s: int((a == s).sum()) for s in ('train', 'val', 'test')}
    assert counts == dict(train=84, val=12, test=24)  # 28 / 4 / 8 patients


def test_dataset_reads_raw_metadata_and_finds_images(tmp_path):
    root = str(tmp_path)
    info = make_nih(root, n_patients=12, per_patient=3)
    rows = {r[0]: r for r in info['rows']}
    seen = {}
    for split in ('train', 'val', 'test'):
        ds = NIHChestXray14(data_root=root, split=split,
                            pipeline=[dict(type='LoadMedicalImage'),
                                      dict(type='PackInputs')])
        assert ds.metainfo['classes'] == NIH_CLASSES
        assert ds.metainfo['head_classes'] == NIH_HEAD
        assert len(ds.metainfo['tail_classes']) == 7
        for i in range(len(ds)):
            d = ds.get_data_info(i)
            name = osp.basename(d['img_path'])
            assert osp.isfile(d['img_path'])
            assert d['gt_label'] == expected_labels(rows[name][1])
            assert d['patient_id'] == rows[name][3]
            seen[name] = split
        out = ds[0]
        assert out['inputs'].shape == (3, 20, 24)
    assert set(seen) == set(rows)
    by_patient = {}
    for name, split in seen.items():
        by_patient.setdefault(rows[name][3], set()).add(split)
    assert all(len(s) == 1 for s in by_patient.values())
    ds = NIHChestXray14(data_root=root, split='trainval')
    assert len(ds) == sum(s != 'test' for s in seen.values())
    # 'No Finding' is the all-zero vector after packing
    ds = NIHChestXray14(data_root=root, split='all', pipeline=[
        dict(type='LoadMedicalImage'), dict(type='PackInputs')])
    assert ds.get_data_info(0)['gt_label'] == []
    from mmpretrain.structures import label_to_onehot
    assert label_to_onehot(ds[0]['data_samples'].gt_label, 14).sum() == 0


def test_official_split_and_explicit_img_dir(tmp_path):
    root = str(tmp_path)
    info = make_nih(root, n_patients=16, per_patient=2)
    test = NIHChestXray14(data_root=root, split='test',
                          split_method='official')
    assert sorted(osp.basename(test.get_data_info(i)['img_path'])
                  for i in range(len(test))) == sorted(info['test'])
    tr = NIHChestXray14(data_root=root, split='train',
                        split_method='official')
    va = NIHChestXray14(data_root=root, split='val', split_method='official')
    assert len(tr) + len(va) == len(info['trainval']) and len(va) > 0
    ds = NIHChestXray14(data_root=root, split='all', img_dir='flat')
    assert ds.get_data_info(0)['img_path'] == osp.join(
        root, 'flat', info['rows'][0][0])


def test_missing_images_fail_at_init_naming_them(tmp_path):
    root = str(tmp_path)
    info = make_nih(root, n_patients=4, per_patient=2)
    victim = info['rows'][-1][0]
    import os
    os.remove(osp.join(root, 'images_002', 'images', victim))
    with pytest.raises(FileNotFoundError, match=f'1 of the 8 .*{victim}'):
        NIHChestXray14(data_root=root, split='all')
    with pytest.raises(ValueError, match='set split='):
        NIHChestXray14(data_root=root)
    with pytest.raises(ValueError, match='unknown split'):
        NIHChestXray14(data_root=root, split='training')


def test_converter_json_is_read_by_both_dataset_types(tmp_path):
    root = str(tmp_path)
    make_nih(root, n_patients=12, per_patient=3)
    res = convert_nih(root, osp.join(root, 'ann'))
    for split in ('train', 'val', 'test'):
        raw = NIHChestXray14(data_root=root, split=split)
        ours = NIHChestXray14(data_root=root, split=split,
                              ann_file=f'ann/{split}.json')
        plain = MultiLabelDataset(data_root=root,
                                  ann_file=f'ann/{split}.json')
        assert len(raw) == len(ours) == len(plain) == res.images[split]
        for i in range(len(raw)):
            a, b, c = (d.get_data_info(i) for d in (raw, ours, plain))
            assert osp.normpath(a['img_path']) == osp.normpath(
                b['img_path']) == osp.normpath(c['img_path'])
            assert a['gt_label'] == b['gt_label'] == list(c['gt_label'])
        assert plain.metainfo['head_classes'] == list(NIH_HEAD)
    with pytest.raises(AnnotationError, match='holds the "train" split'):
        NIHChestXray14(data_root=root, split='val', ann_file='ann/train.json')
    with open(osp.join(root, 'ann', 'train.json')) as f:
        data = json.load(f)
    data['metainfo']['classes'] = data['metainfo']['classes'][::-1]
    with open(osp.join(root, 'ann', 'bad.json'), 'w') as f:
        json.dump(data, f)
    with pytest.raises(AnnotationError, match='misread'):
        NIHChestXray14(data_root=root, ann_file='ann/bad.json')


def test_dataset_on_the_real_metadata(tmp_path):
    """The full 112,120-row CSV through the dataset class (no images)."""
    real = shared_file('nih_chestxray14', 'Data_Entry_2017_v2020.csv.gz')
    root = osp.dirname(real)
    ds = NIHChestXray14(data_root=root, ann_file=osp.basename(real),
                        split='test', split_method='official',
                        img_dir='images')
    assert len(ds) == 25596
    meta = read_nih_metadata(real)
    with open(osp.join(root, 'test_list.txt')) as f:
        test = set(f.read().split())
    sel = np.array([n in test for n in meta.names])
    np.testing.assert_array_equal(ds.positive_counts(),
                                  meta.labels[sel].sum(0))
