"""The built-in long-tailed multi-label demo dataset."""
import filecmp
import json
import os.path as osp

import numpy as np
import pytest

from mmpretrain.registry import DATASETS

from ldr_mm.datasets.demo import (DEMO_CLASSES, DEMO_COOCCURRENCE,
                                  DEMO_SPLITS, _sample_labels,
                                  demo_class_counts, generate_demo_dataset,
                                  render_demo_image)


def test_default_counts_are_long_tailed():
    counts = demo_class_counts(DEMO_SPLITS['train'])
    assert counts == sorted(counts, reverse=True)
    assert counts[0] / counts[-1] >= 50


def test_cooccurrence():
    rng = np.random.default_rng(0)
    counts = demo_class_counts(1600)
    labels = _sample_labels(1600, counts, rng)
    assert labels.sum(0).tolist() == counts
    for child, parent, share in DEMO_COOCCURRENCE:
        c, p = DEMO_CLASSES.index(child), DEMO_CLASSES.index(parent)
        both = (labels[:, c] & labels[:, p]).sum() / labels[:, c].sum()
        prevalence = labels[:, p].mean()
        assert both >= share - 0.05 and both > prevalence + 0.2


@pytest.mark.parametrize('cls', range(len(DEMO_CLASSES)))
def test_every_finding_is_visible(cls):
    """Adding a finding changes many pixels beyond the noise."""
    seeds = range(5)
    diffs = []
    for s in seeds:
        labels = np.zeros(len(DEMO_CLASSES), dtype=int)
        base = render_demo_image(labels, s).astype(float)
        labels[cls] = 1
        # same seed: same background and noise only if the drawing consumes
        # no randomness before the noise; so compare pixel statistics
        img = render_demo_image(labels, s).astype(float)
        diffs.append(np.abs(img - base).max())
    assert min(diffs) > 25  # > 10% of the range somewhere in the image


def test_generation_is_deterministic(tmp_path):
    a = generate_demo_dataset(str(tmp_path / 'a'), splits=dict(val=6),
                              size=32)
    b = generate_demo_dataset(str(tmp_path / 'b'), splits=dict(val=6),
                              size=32)
    assert filecmp.cmp(a['val'], b['val'], shallow=False)
    data = json.load(open(a['val']))['data_list']
    for d in data:
        assert filecmp.cmp(osp.join(tmp_path, 'a', d['img_path']),
                           osp.join(tmp_path, 'b', d['img_path']),
                           shallow=False)


def test_dataset_reads_three_channel_images(demo_root):
    ds = DATASETS.build(
        dict(type='LDRDemoDataset', data_root=demo_root, split='val',
             pipeline=[dict(type='LoadImageFromFile'),
                       dict(type='PackInputs')]))
    assert ds.metainfo['classes'] == DEMO_CLASSES
    assert ds.metainfo['head_classes'] and ds.metainfo['tail_classes']
    item = ds[0]
    assert item['inputs'].shape == (3, 32, 32)
    # every class has positives in val (min count guaranteed)
    counts = np.zeros(len(DEMO_CLASSES), dtype=int)
    for i in range(len(ds)):
        counts[ds.get_cat_ids(i)] += 1
    assert (counts > 0).all()


def test_missing_split_without_generation(tmp_path):
    with pytest.raises(FileNotFoundError, match='make_demo_dataset.py'):
        DATASETS.build(dict(type='LDRDemoDataset', data_root=str(tmp_path),
                            split='train', generate=False))


def test_split_sizes():
    """Train as in version 1 (same training cost); test 5x version 1's 800
    images and val 5x version 2's 400, so tail differences can be measured
    on both, with class frequencies that the positive floor does not bend."""
    assert DEMO_SPLITS['train'] == 1600
    assert DEMO_SPLITS['test'] >= 5 * 800 and DEMO_SPLITS['val'] >= 5 * 400
    tail = demo_class_counts(DEMO_SPLITS['test'], 8)[len(DEMO_CLASSES) // 2:]
    assert min(tail) >= 25
    for split in ('val', 'test'):  # the floor of 8 positives is not reached
        n = DEMO_SPLITS[split]
        assert demo_class_counts(n, 8) == demo_class_counts(n, 1)


def _make_version1(root, split, n):
    """A split as version 1 wrote it (no image_size, demo_version 1)."""
    ann = generate_demo_dataset(root, splits={split: n}, size=32)[split]
    data = json.load(open(ann))
    data['metainfo']['demo_version'] = 1
    del data['metainfo']['image_size']
    json.dump(data, open(ann, 'w'))
    return ann


def test_outdated_split_is_regenerated_not_reused(tmp_path):
    root = str(tmp_path)
    ann = _make_version1(root, 'test', 5)
    with pytest.warns(UserWarning, match=r'demo_version 1 \(wanted 3\)'):
        generate_demo_dataset(root, splits=dict(test=7), size=32)
    data = json.load(open(ann))
    assert len(data['data_list']) == 7
    assert data['metainfo']['demo_version'] == 3
    # same request again: reused, no warning, byte-identical
    before = open(ann).read()
    generate_demo_dataset(root, splits=dict(test=7), size=32)
    assert open(ann).read() == before
    with pytest.warns(UserWarning, match=r'images 7 \(wanted 9\)'):
        generate_demo_dataset(root, splits=dict(test=9), size=32)


def test_dataset_regenerates_or_refuses_an_outdated_split(tmp_path):
    root = str(tmp_path)
    _make_version1(root, 'val', 5)
    with pytest.raises(ValueError, match='make_demo_dataset.py .* --overwrite'):
        DATASETS.build(dict(type='LDRDemoDataset', data_root=root,
                            split='val', generate=False))
    with pytest.warns(UserWarning, match='regenerating'):
        ds = DATASETS.build(dict(type='LDRDemoDataset', data_root=root,
                                 split='val', splits=dict(val=6),
                                 image_size=32, pipeline=[]))
    assert len(ds) == 6
    # another size than asked for: read as it is, and said so
    with pytest.warns(UserWarning, match=r'images 6 \(wanted 9\); reading'):
        ds = DATASETS.build(dict(type='LDRDemoDataset', data_root=root,
                                 split='val', splits=dict(val=9),
                                 image_size=32, pipeline=[]))
    assert len(ds) == 6
    # a current split made with another seed or size is read as it is
    generate_demo_dataset(str(tmp_path / 'b'), seed=3, splits=dict(val=4),
                          size=32)
    ds = DATASETS.build(dict(type='LDRDemoDataset', data_root=str(
        tmp_path / 'b'), split='val', generate=False, pipeline=[]))
    assert len(ds) == 4
