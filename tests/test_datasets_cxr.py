"""CheXpert, MIMIC-CXR-JPG and the generic CSV dataset; uncertain-label
policies (U-Ones, U-Zeros, U-Ignore)."""
import csv
import os
import os.path as osp

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import (CHEXPERT_CLASSES, MIMIC_CLASSES, CheXpert,
                             MIMICCXRJPG, MultiLabelCSVDataset)
from ldr_mm.datasets.base import AnnotationError
from cxr_helpers import write_chexpert, write_mimic


def expected(values, policy):
    """Positive indices and mask from {1, 0, -1, None} entries."""
    pos = [i for i, v in enumerate(values)
           if v == 1 or (v == -1 and policy == 'ones')]
    mask = None if policy != 'ignore' else [int(v != -1) for v in values]
    return pos, mask


@pytest.fixture(scope='module')
def chexpert_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cx') / 'CheXpert-v1.0-small')
    import os
    os.makedirs(root)
    return root, write_chexpert(root)


@pytest.mark.parametrize('policy', ['ones', 'zeros', 'ignore'])
def test_chexpert_labels_policies_and_official_split(chexpert_root, policy):
    root, rows = chexpert_root
    by_path = {r[0]: r for r in rows['train'] + rows['valid']}
    seen = {}
    for split in ('train', 'val', 'test'):
        ds = CheXpert(data_root=root, split=split, uncertain=policy)
        assert ds.metainfo['classes'] == CHEXPERT_CLASSES
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            rel = osp.relpath(info['img_path'], root).replace(osp.sep, '/')
            assert osp.isfile(info['img_path'])
            pos, mask = expected(by_path[rel][3], policy)
            assert info['gt_label'] == pos, rel
            if mask is None:
                assert 'gt_mask' not in info
            else:
                assert info['gt_mask'] == mask
            assert info['patient_id'] == rel.split('/')[1]
            seen.setdefault(split, set()).add(info['patient_id'])
            assert rel.startswith('valid/') == (split == 'test')
    assert not seen['train'] & seen['val']
    assert len(seen['test']) == 3
    n_train = len(rows['train'])
    assert len(CheXpert(data_root=root, split='trainval')) == n_train
    if policy == 'ignore':  # the fixture does have uncertain entries
        ds = CheXpert(data_root=root, split='train', uncertain='ignore')
        assert sum(ds.get_data_info(i)['gt_mask'].count(0)
                   for i in range(len(ds))) > 5

def test_chexpert_views_patient_split_and_errors(chexpert_root, tmp_path):
    root, rows = chexpert_root
    frontal = CheXpert(data_root=root, split='all', views=('Frontal', ))
    n_frontal = sum(r[1] == 'Frontal' for r in rows['train'] + rows['valid'])
    assert len(frontal) == n_frontal
    pa = CheXpert(data_root=root, split='all', views=('PA', ))
    assert len(pa) == sum(r[2] == 'PA' for r in rows['train'] +
                          rows['valid'])
    parts = [CheXpert(data_root=root, split=s, split_method='patient')
             for s in ('train', 'val', 'test')]
    pids = [{d['patient_id'] for d in p.load_data_list()} for p in parts]
    assert not (pids[0] & pids[1] or pids[0] & pids[2] or pids[1] & pids[2])
    assert sum(len(p) for p in parts) == len(rows['train']) + len(
        rows['valid'])
    with pytest.raises(ValueError, match='uncertain must be one of'):
        CheXpert(data_root=root, split='train', uncertain='maybe')
    with pytest.raises(FileNotFoundError, match='train.csv'):
        CheXpert(data_root=str(tmp_path), split='train')
    # a bad label cell names file, line and column
    bad = tmp_path / 'bad'
    bad.mkdir()
    lines = open(osp.join(root, 'train.csv')).read().splitlines()
    lines[2] = lines[2].rsplit(',', 1)[0] + ',2.0'
    (bad / 'train.csv').write_text('\n'.join(lines) + '\n')
    (bad / 'valid.csv').write_text(open(osp.join(root, 'valid.csv')).read())
    with pytest.raises(AnnotationError, match='train.csv" line 3: column '
                       '"Support Devices" is \'2.0\''):
        CheXpert(data_root=str(bad), split='train', check_files=False)
    (bad / 'train.csv').write_text(lines[0].replace(',Fracture', '') + '\n')
    with pytest.raises(AnnotationError, match=r"lacks the column\(s\) "
                       r"\['Fracture'\]"):
        CheXpert(data_root=str(bad), split='train', check_files=False)
    (bad / 'train.csv').write_text(open(osp.join(root, 'train.csv')).read())
    with pytest.raises(FileNotFoundError, match='images of CheXpert split'):
        CheXpert(data_root=str(bad), split='test')


def test_mimic_official_split_frontal_study_labels(tmp_path):
    root = str(tmp_path / 'mimic-cxr-jpg' / '2.0.0')
    truth = write_mimic(root)
    names = dict(train='train', val='validate', test='test')
    for split in ('train', 'val', 'test'):
        ds = MIMICCXRJPG(data_root=root, split=split, uncertain='ignore')
        assert ds.metainfo['classes'] == MIMIC_CLASSES
        got = {ds.get_data_info(i)['dicom_id']: ds.get_data_info(i)
               for i in range(len(ds))}
        want = {d for d, t in truth.items() if t['split'] == names[split]
                and t['view'] in ('PA', 'AP') and t['labelled']}
        assert set(got) == want
        for d, info in got.items():
            t = truth[d]
            pos, mask = expected(t['values'], 'ignore')
            assert info['gt_label'] == pos and info['gt_mask'] == \
                mask
            assert info['img_path'] == osp.join(
                root, 'files', f'p{t["subject"][:2]}', f'p{t["subject"]}',
                f's{t["study"]}', f'{d}.jpg')
            assert info['patient_id'] == t['subject']
    # the metadata files as PhysioNet ships them too: .csv.gz
    import gzip
    before = MIMICCXRJPG(data_root=root, split='train').load_data_list()
    for name in ('split', 'metadata'):
        path = osp.join(root, f'mimic-cxr-2.0.0-{name}.csv')
        with open(path, 'rb') as src, gzip.open(path + '.gz', 'wb') as dst:
            dst.write(src.read())
        os.remove(path)
    assert MIMICCXRJPG(data_root=root,
                       split='train').load_data_list() == before
    all_views = MIMICCXRJPG(data_root=root, split='all', views=None)
    assert len(all_views) == sum(t['labelled'] for t in truth.values())
    ones = MIMICCXRJPG(data_root=root, split='all', uncertain='ones')
    for i in range(len(ones)):
        info = ones.get_data_info(i)
        assert info['gt_label'] == expected(
            truth[info['dicom_id']]['values'], 'ones')[0]


def test_generic_csv_columns_labels_column_and_patient_split(tmp_path):
    classes = ['A', 'B', 'C']
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        vals = [int(v) for v in rng.integers(-1, 2, 3)]
        rows.append((f'img/{i}.png', f'P{i // 4}', vals))
        path = tmp_path / 'img' / f'{i}.png'
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b'x')
    with open(tmp_path / 'table.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['file', 'patient', 'notes'] + classes)
        for p, pid, vals in rows:
            w.writerow([p, pid, 'x'] + vals)
    kw = dict(data_root=str(tmp_path), ann_file='table.csv',
              path_column='file', patient_column='patient', classes=classes)
    got = {}
    for split in ('train', 'val', 'test'):
        ds = MultiLabelCSVDataset(split=split, uncertain='ignore', **kw)
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            got[osp.relpath(info['img_path'], str(tmp_path))] = (split, info)
    assert len(got) == 40
    for p, pid, vals in rows:
        split, info = got[p.replace('/', osp.sep)]
        pos, mask = expected(vals, 'ignore')
        assert info['gt_label'] == pos and info['gt_mask'] == mask
    splits_of = {}
    for p, pid, _ in rows:
        splits_of.setdefault(pid, set()).add(got[p.replace('/', osp.sep)][0])
    assert all(len(s) == 1 for s in splits_of.values())
    # one labels column, fixed split column
    with open(tmp_path / 'labels.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['img_path', 'labels', 'split'])
        w.writerow(['img/0.png', 'A|C', 'train'])
        w.writerow(['img/1.png', '', 'test'])
    ds = MultiLabelCSVDataset(data_root=str(tmp_path), ann_file='labels.csv',
                              split='train', labels_column='labels',
                              split_column='split', classes=classes)
    assert len(ds) == 1 and ds.get_data_info(0)['gt_label'] == [0, 2]
    with open(tmp_path / 'bad.csv', 'w', newline='') as f:
        f.write('img_path,labels\nimg/0.png,A|D\n')
    with pytest.raises(AnnotationError, match=r'bad.csv" line 2: unknown '
                       r"label\(s\) \['D'\]"):
        MultiLabelCSVDataset(data_root=str(tmp_path), ann_file='bad.csv',
                             split='all', labels_column='labels',
                             classes=classes)
    with pytest.raises(ValueError, match='needs the class names'):
        MultiLabelCSVDataset(data_root=str(tmp_path), ann_file='labels.csv',
                             split='all', labels_column='labels')


def test_ignore_needs_the_mask_packed(chexpert_root):
    root, _ = chexpert_root
    pipe = [dict(type='LoadMedicalImage'), dict(type='PackInputs')]
    ds = CheXpert(data_root=root, split='val', uncertain='ignore',
                  pipeline=pipe)
    with pytest.raises(ValueError, match="algorithm_keys=\\('gt_mask', \\)"):
        ds[0]
    ok = CheXpert(data_root=root, split='val', uncertain='ignore',
                  pipeline=[pipe[0], dict(type='PackInputs',
                                          algorithm_keys=('gt_mask', ))])
    sample = ok[0]['data_samples']
    assert list(sample.gt_mask) == ok.get_data_info(0)['gt_mask']
