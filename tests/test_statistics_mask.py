"""U-Ignore masks in the stage-2 statistics pass: a masked label of class c
is in neither of class c's Gaussians (hand computations)."""
import numpy as np
import pytest
import torch

from stage2_helpers import build_model, stage1_cfg, stage2_root  # noqa: F401
from ldr_mm.reconstruction import (GaussianAccumulator,
                                   build_statistics_dataloader,
                                   class_features, estimate_class_statistics,
                                   sampling_probability, statistics_dataset)


def test_masked_rows_leave_the_class_statistics():
    # 2 classes, D = 2. Class 0: rows 0..4 known, row 5 masked (an outlier
    # that would be a negative); class 1: row 0 masked.
    x = torch.tensor([[[1., 0.], [0., 0.]],
                      [[3., 2.], [1., 1.]],
                      [[5., 4.], [2., 0.]],
                      [[0., 1.], [3., 3.]],
                      [[2., 3.], [4., 1.]],
                      [[100., -100.], [5., 5.]]])
    y = torch.tensor([[1, 1], [1, 0], [1, 1], [0, 0], [0, 1], [0, 0]])
    mask = torch.ones(6, 2)
    mask[5, 0] = 0
    mask[0, 1] = 0
    acc = GaussianAccumulator(2, 2, buffer_size=2)
    acc.update(x[:4], y[:4], mask[:4])
    acc.update(x[4:], y[4:], mask[4:])
    st = acc.compute(shrinkage=0.0, ridge=0.0)
    # class 0, label 1: rows 0-2 -> (1,0), (3,2), (5,4): mean (3, 2),
    # deviations (-2,-2), (0,0), (2,2): cov = [[8, 8], [8, 8]] / 2
    # class 0, label 0: rows 3, 4 (row 5 masked) -> (0,1), (2,3): mean
    # (1, 2), deviations (-1,-1), (1,1): cov [[2, 2], [2, 2]] / 1
    assert st.counts[0].tolist() == [2, 3]
    assert st.mean[0, 1].tolist() == [3.0, 2.0]
    assert st.mean[0, 0].tolist() == [1.0, 2.0]
    assert st.cov[0, 1].tolist() == [[4.0, 4.0], [4.0, 4.0]]
    assert st.cov[0, 0].tolist() == [[2.0, 2.0], [2.0, 2.0]]
    # class 1, label 1: rows 2, 4 (row 0 masked) -> (2,0), (4,1): mean
    # (3, .5), cov [[2, 1], [1, .5]]; label 0: rows 1, 3, 5 -> (1,1),
    # (3,3), (5,5): mean (3, 3), cov [[4, 4], [4, 4]]
    assert st.counts[1].tolist() == [3, 2]
    assert st.mean[1, 1].tolist() == [3.0, 0.5]
    assert st.cov[1, 1].tolist() == [[2.0, 1.0], [1.0, 0.5]]
    assert st.mean[1, 0].tolist() == [3.0, 3.0]
    assert st.cov[1, 0].tolist() == [[4.0, 4.0], [4.0, 4.0]]
    assert st.known_counts.tolist() == [5, 5]
    assert st.num_samples == 5
    # without the mask the outlier is a negative of class 0
    plain = GaussianAccumulator(2, 2)
    plain.update(x, y)
    assert plain.compute(0.0, 0.0).counts[0].tolist() == [3, 3]


def test_diag_and_shape_check():
    x = torch.tensor([[[1.], [2.]], [[3.], [4.]], [[9.], [6.]]])
    y = torch.tensor([[0, 1], [0, 1], [0, 1]])
    mask = torch.tensor([[1., 1.], [1., 1.], [0., 1.]])
    acc = GaussianAccumulator(2, 1, cov_type='diag')
    acc.update(x, y, mask)
    st = acc.compute(0.0, 0.0)
    assert st.counts.tolist() == [[2, 0], [0, 3]]
    assert st.mean[0, 0].tolist() == [2.0] and st.cov[0, 0].tolist() == [2.0]
    assert st.mean[1, 1].tolist() == [4.0] and st.cov[1, 1].tolist() == [4.0]
    with pytest.raises(ValueError, match=r'mask \(3, 2\)'):
        acc.update(x, y, torch.ones(3, 1))


def test_natural_sampling_uses_the_known_labels_per_class():
    # F = (2, 3) positives among (4, 6) known labels
    p = sampling_probability(torch.tensor([2, 3]), 'natural',
                             num_samples=torch.tensor([4, 6]))
    assert p.tolist() == [0.5, 0.5]
    assert sampling_probability(torch.tensor([2, 3]), 'natural',
                                num_samples=6).tolist() == [2 / 6, 0.5]


def test_statistics_pass_reads_gt_mask(stage2_root):  # noqa: F811
    """estimate_class_statistics over real batches whose samples carry
    gt_mask equals the per-class numpy statistics of the unmasked rows."""
    from mmengine.logging import MMLogger
    from mmpretrain.registry import DATASETS
    cfg = stage1_cfg(stage2_root)
    model = build_model(cfg).eval()
    model.init_weights()
    ds = statistics_dataset(DATASETS.build(cfg.train_dataloader.dataset),
                            cfg.test_dataloader.dataset.pipeline)
    batches = list(build_statistics_dataloader(ds, batch_size=10))
    rng = np.random.default_rng(0)
    for data in batches:
        for s in data['data_samples']:
            s.set_field(rng.random(10) < 0.8, 'gt_mask')
    feats, labels, masks = zip(*(class_features(model, d) for d in batches))
    x = torch.cat(feats).double().numpy()
    y = torch.cat(labels).numpy()
    m = torch.cat(masks).numpy().astype(bool)
    assert not m.all() and m.any()
    logger = MMLogger.get_instance('test_statistics_mask')
    lines = []
    logger.info = lines.append
    st, info = estimate_class_statistics(
        model, batches, shrinkage=0.0, ridge=0.0, log_interval=2)
    assert lines == ['statistics pass: 2/5 batches',
                     'statistics pass: 4/5 batches',
                     'statistics pass: 5/5 batches']
    for c in range(10):
        for j in (0, 1):
            rows = x[m[:, c] & (y[:, c] == j), c]
            assert int(st.counts[c, j]) == len(rows)
            if len(rows) >= 2:
                np.testing.assert_allclose(st.mean[c, j].numpy(),
                                           rows.mean(0), rtol=1e-5,
                                           atol=1e-6)
    assert info['images'] == int(m.sum(0).max())
