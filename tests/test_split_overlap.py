"""Issue 23.5: duplicate images inside a split and images / patient ids
shared by the training, validation and test sets are reported when training
starts (a warning; an error with ``split_overlap='error'``)."""
import json
import logging
import os.path as osp

import pytest

from ldr_mm.datasets import AnnotationError, LDRDemoDataset, NIHChestXray14
from ldr_mm.datasets.nih import NIH_CLASSES
from ldr_mm.datasets.overlap import check_split_overlap
from test_dataset_label_checks import (copy_split, multilabel_cfg,
                                       no_checkpoint, train_tool)


def _nih_json(path, split, rows):
    meta = dict(classes=list(NIH_CLASSES), split=split)
    data = [dict(img_path=p, gt_label=[1], patient_id=pid) for p, pid in rows]
    json.dump(dict(metainfo=meta, data_list=data), open(path, 'w'))
    return NIHChestXray14(data_root='', ann_file=str(path), split=split)


class _Log(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_duplicates_and_shared_patients_are_named(tmp_path):
    train = _nih_json(tmp_path / 'train.json', 'train', [
        ('a.png', '1'), ('b.png', '2'), ('a.png', '1'), ('c.png', '3')])
    test = _nih_json(tmp_path / 'test.json', 'test', [
        ('d.png', '3'), ('e.png', '4'), ('c.png', '3')])
    logger = logging.getLogger('split_overlap_test')
    handler = _Log()
    logger.addHandler(handler)
    try:
        found = check_split_overlap({'train': train, 'test': test}, 'warn',
                                    logger)
    finally:
        logger.removeHandler(handler)
    assert len(found) == 3 and len(handler.lines) == 1
    msg = handler.lines[0]
    a, c = osp.abspath('a.png'), osp.abspath('c.png')
    assert (f'the train split lists 1 images more than once (1 extra '
            f'entries; first: "{a}")') in msg
    assert f'the train and test splits share 1 images (first: "{c}")' in msg
    assert 'the train and test splits share 1 patient ids (first: "3")' \
        in msg
    assert "split_overlap='error'" in msg
    with pytest.raises(AnnotationError, match='share 1 patient ids'):
        check_split_overlap({'train': train, 'test': test}, 'error')
    with pytest.raises(ValueError, match=r"split_overlap='warm'.*'warn', "
                       r"'error'"):
        check_split_overlap({'train': train}, 'warm')


def test_demo_splits_are_clean(demo_root):
    sets = {s: LDRDemoDataset(data_root=demo_root, split=s, generate=False)
            for s in ('train', 'val', 'test')}
    assert check_split_overlap(sets, 'error') == []


def test_train_test_overlap_is_reported_when_training_starts(
        demo_root, tmp_path):
    """End to end through tools/train.py: the test set (read from its
    annotations only) shares images with the training set: a warning in the
    log by default, no training with ``split_overlap='error'``."""
    import glob

    from mmengine.config import Config
    train = json.load(open(copy_split(demo_root, tmp_path, 'train')))
    test_path = copy_split(demo_root, tmp_path, 'test')
    test = json.load(open(test_path))
    test['data_list'][:3] = train['data_list'][:3]
    json.dump(test, open(test_path, 'w'))
    cfg, work = multilabel_cfg(demo_root, tmp_path, test=test_path)
    train_tool.main([cfg])
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'the train and test splits share 3 images' in log
    assert not no_checkpoint(work)  # a warning only

    c = Config.fromfile(cfg)
    c.split_overlap = 'error'
    c.work_dir = work = str(tmp_path / 'work_error')
    c.dump(cfg)
    with pytest.raises(AnnotationError, match=r'the train and test splits '
                       r'share 3 images \(first: ".*000000.png"'):
        train_tool.main([cfg])
    assert no_checkpoint(work)
