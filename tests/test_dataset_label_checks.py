"""Issue 13.6 and 13.7: labels checked once at dataset build, clear errors
for empty splits, ODIR workbooks, drop_last and num_classes settings."""
import json
import os
import os.path as osp
import shutil

import openpyxl
import pytest

from conftest import load_tiny_cfg
from inference_helpers import load_tool
from ldr_mm.datasets import (AnnotationError, AxSpADataset, LDRDemoDataset,
                             NIHChestXray14, read_odir_annotations)
from ldr_mm.datasets.nih import NIH_CLASSES
from medical_helpers import (ODIR_HEADER, axspa_rows, odir_rows,
                             write_axspa_csv)

train_tool = load_tool('train.py')


def copy_split(demo_root, tmp_path, split, label=None, index=3):
    """The demo ``split`` JSON (absolute image paths), one label replaced."""
    ann = json.load(open(osp.join(demo_root, f'{split}.json')))
    for d in ann['data_list']:
        d['img_path'] = osp.join(demo_root, d['img_path'])
    if label is not None:
        ann['data_list'][index]['gt_label'] = label
    path = str(tmp_path / f'{split}_edited.json')
    json.dump(ann, open(path, 'w'))
    return path


def multilabel_cfg(demo_root, tmp_path, **ann_files):
    """The tiny demo config on MMPretrain's own MultiLabelDataset."""
    work = str(tmp_path / 'work')
    cfg = load_tiny_cfg(demo_root, work)
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        ds = cfg[key]['dataset']
        cfg[key]['dataset'] = dict(
            type='MultiLabelDataset', data_root='',
            ann_file=ann_files.get(split) or copy_split(demo_root, tmp_path,
                                                        split),
            pipeline=ds['pipeline'])
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    return path, work


def no_checkpoint(work):
    return not osp.isdir(work) or not any(
        f.endswith('.pth') for f in os.listdir(work))


@pytest.mark.parametrize('label', [[-1], [10], [2, 3.7]])
def test_multilabel_dataset_bad_label_stops_before_training(
        demo_root, tmp_path, label):
    bad = copy_split(demo_root, tmp_path, 'train', label, index=5)
    cfg, work = multilabel_cfg(demo_root, tmp_path, train=bad)
    with pytest.raises(AnnotationError) as e:
        train_tool.main([cfg])
    msg = str(e.value)
    assert 'train_edited.json' in msg and 'data_list[5]' in msg
    assert '000005.png' in msg and '0..9' in msg
    assert no_checkpoint(work)


def test_bad_validation_label_is_found_before_the_first_iteration(
        demo_root, tmp_path):
    bad = copy_split(demo_root, tmp_path, 'val', [11], index=2)
    cfg, work = multilabel_cfg(demo_root, tmp_path, val=bad)
    with pytest.raises(AnnotationError, match=r'val_edited.json.*'
                       r'data_list\[2\]'):
        train_tool.main([cfg])
    assert no_checkpoint(work)  # not after the first epoch


def test_ldr_datasets_refuse_fractional_labels(demo_root, tmp_path):
    # the demo dataset (MultiLabelDataset JSON of its own)
    root = tmp_path / 'demo'
    shutil.copytree(demo_root, root)
    ann = json.load(open(root / 'val.json'))
    ann['data_list'][4]['gt_label'] = [3.7]
    json.dump(ann, open(root / 'val.json', 'w'))
    with pytest.raises(AnnotationError, match=r'val.json" data_list\[4\] '
                       r'\(".*images/val/000004.png"\).*3\.7'):
        LDRDemoDataset(data_root=str(root), split='val', generate=False)
    # a converter-format JSON read by an ldr_mm dataset class
    meta = dict(classes=list(NIH_CLASSES), split='test')
    data = [dict(img_path='a.png', gt_label=[1], patient_id='1'),
            dict(img_path='b.png', gt_label=[3.7], patient_id='2')]
    path = tmp_path / 'nih_test.json'
    json.dump(dict(metainfo=meta, data_list=data), open(path, 'w'))
    with pytest.raises(AnnotationError, match=r'nih_test.json" data_list'
                       r'\[1\] \("b.png"\).*3\.7'):
        NIHChestXray14(data_root='', ann_file=str(path), split='test')
    data[1]['gt_label'] = [3.0]  # an integral float is the index 3
    json.dump(dict(metainfo=meta, data_list=data), open(path, 'w'))
    ds = NIHChestXray14(data_root='', ann_file=str(path), split='test')
    assert ds.get_data_info(1)['gt_label'] == [3]


def test_empty_split_is_named(tmp_path):
    rows = axspa_rows(4, 2)
    for r in rows:
        r['split'] = 'train'
    write_axspa_csv(str(tmp_path / 'annotations.csv'), rows)
    with pytest.raises(AnnotationError, match=r'split "val" of .*'
                       r'annotations.csv" has no samples'):
        AxSpADataset(data_root=str(tmp_path), split='val',
                     check_files=False)


def _workbook(path, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(list(r))
    wb.save(path)
    return str(path)


def test_odir_data_sheet_need_not_be_first(tmp_path):
    rows = [ODIR_HEADER] + odir_rows(6)
    for first in ([], [('read me', ), ('exported 2019', )]):
        path = _workbook(tmp_path / 'w.xlsx', [('Notes', first),
                                               ('Sheet1', rows)])
        patients = read_odir_annotations(path)
        assert len(patients) == 6


def test_odir_empty_data_sheet_is_named(tmp_path):
    path = _workbook(tmp_path / 'w.xlsx', [('Notes', []),
                                           ('Data', [ODIR_HEADER])])
    with pytest.raises(AnnotationError, match=r'worksheet "Data" has a '
                       r'header but no patient rows'):
        read_odir_annotations(path)
    path = _workbook(tmp_path / 'e.xlsx', [('A', []), ('B', [])])
    with pytest.raises(AnnotationError, match=r"every worksheet is empty "
                       r"\(sheets: \['A', 'B'\]\)"):
        read_odir_annotations(path)


def test_drop_last_with_a_batch_larger_than_the_dataset(demo_root, tmp_path):
    work = str(tmp_path / 'w')
    cfg = load_tiny_cfg(demo_root, work)
    cfg.merge_from_dict({'train_dataloader.batch_size': 64,
                         'train_dataloader.drop_last': True})
    cfg.dump(str(tmp_path / 'c.py'))
    with pytest.raises(ValueError, match=r'training dataset has 48 samples.*'
                       r'batch_size=64 with drop_last=True'):
        train_tool.main([str(tmp_path / 'c.py')])


def test_data_preprocessor_num_classes_must_match(demo_root, tmp_path):
    work = str(tmp_path / 'w')
    cfg = load_tiny_cfg(demo_root, work)
    cfg.merge_from_dict({'data_preprocessor.num_classes': 9})
    cfg.dump(str(tmp_path / 'c.py'))
    with pytest.raises(ValueError, match=r'data_preprocessor.num_classes=9 '
                       r'but the training dataset has 10'):
        train_tool.main([str(tmp_path / 'c.py')])
    assert no_checkpoint(work)


def test_empty_demo_or_multilabel_dataset_is_named(demo_root, tmp_path):
    root = tmp_path / 'demo'
    shutil.copytree(demo_root, root)
    ann = json.load(open(root / 'val.json'))
    ann['data_list'] = []
    json.dump(ann, open(root / 'val.json', 'w'))
    with pytest.raises(AnnotationError, match='val.json" has no samples'):
        LDRDemoDataset(data_root=str(root), split='val', generate=False)
    # MMPretrain's own dataset (MMEngine's serialisation fails on an empty
    # list before any hook, with serialize_data=False the hook names it)
    cfg, work = multilabel_cfg(demo_root, tmp_path,
                               val=str(root / 'val.json'))
    from mmengine.config import Config
    c = Config.fromfile(cfg)
    c.val_dataloader.dataset.serialize_data = False
    c.dump(cfg)
    with pytest.raises(ValueError, match='validation dataset has no samples'):
        train_tool.main([cfg])
    assert no_checkpoint(work)


def test_one_hot_gt_label_is_refused(demo_root, tmp_path):
    """Issue 23.4: ``[0,1,0,0,1,...]`` has values in 0..C-1 and was read as
    the class indices {0, 1}."""
    meta = dict(classes=list(NIH_CLASSES), split='test')
    one_hot = [0] * len(NIH_CLASSES)
    one_hot[1] = one_hot[9] = 1
    data = [dict(img_path='a.png', gt_label=[1], patient_id='1'),
            dict(img_path='b.png', gt_label=one_hot, patient_id='2')]
    path = tmp_path / 'nih_test.json'
    json.dump(dict(metainfo=meta, data_list=data), open(path, 'w'))
    with pytest.raises(AnnotationError, match=r'nih_test.json" data_list'
                       r'\[1\] \("b.png"\).*looks one-hot.*Write the indices '
                       r'of the positive classes \(\[1, 9\]\).*gt_score'):
        NIHChestXray14(data_root='', ann_file=str(path), split='test')
    # MMPretrain's own dataset, checked by the hook before training
    bad = copy_split(demo_root, tmp_path, 'train',
                     [0, 0, 1, 0, 0, 0, 0, 0, 0, 1], index=5)
    cfg, work = multilabel_cfg(demo_root, tmp_path, train=bad)
    with pytest.raises(AnnotationError, match=r'train_edited.json" '
                       r'data_list\[5\].*looks one-hot.*\[2, 9\]'):
        train_tool.main([cfg])
    assert no_checkpoint(work)


def test_repeated_class_index_is_refused(tmp_path):
    meta = dict(classes=list(NIH_CLASSES), split='test')
    data = [dict(img_path='a.png', gt_label=[3, 5, 3], patient_id='1')]
    path = tmp_path / 'nih_test.json'
    json.dump(dict(metainfo=meta, data_list=data), open(path, 'w'))
    with pytest.raises(AnnotationError, match=r'data_list\[0\] \("a.png"\)'
                       r'.*names the classes \[3\] more than once'):
        NIHChestXray14(data_root='', ann_file=str(path), split='test')
