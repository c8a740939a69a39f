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
