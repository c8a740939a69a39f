"""Issue 13.5: ``tools/test.py --out`` scores round-trip exactly, so metrics
recomputed from the file equal the printed ones."""
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import write_tiny_config
from inference_helpers import load_tool
from ldr_mm.evaluation import (average_precision_per_class,
                               read_score_file, roc_auc_per_class)
from ldr_mm.evaluation.metrics import MultiLabelAP, MultiLabelScoreDump
from ldr_mm.evaluation.metrics.accuracy import (accuracy_per_class,
                                                balanced_accuracy_per_class)

test_tool = load_tool('test.py')
train_tool = load_tool('train.py')


def _dump_and_read(path, scores, targets):
    dump = MultiLabelScoreDump(path)
    dump.dataset_meta = dict(classes=['a', 'b'])
    samples = [dict(pred_score=torch.from_numpy(s), gt_score=torch.tensor(t),
                    img_path=f'{i}.png')
               for i, (s, t) in enumerate(zip(scores, targets))]
    dump.process(None, samples)
    dump.evaluate(len(samples))
    return read_score_file(path)


@pytest.mark.parametrize('ext', ['csv', 'json'])
def test_float32_scores_round_trip(tmp_path, ext):
    # scores equal to 6 significant digits, distinct in float32
    base = np.float32(0.1234561)
    col = np.array([np.nextafter(base, np.float32(1), dtype=np.float32)
                    if i % 2 else base for i in range(8)], np.float32)
    col = col + np.arange(8, dtype=np.float32) * np.float32(1e-8)
    scores = np.stack([col, np.float32([0.7, 0.5, 1e-7, 1.0, 0.0, 0.3,
                                        0.9999999, 0.25])], 1)
    assert len({f'{v:.6g}' for v in col}) < len(set(col.tolist()))
    targets = np.array([[0, 1], [1, 0], [0, 1], [1, 0], [1, 1], [0, 0],
                        [1, 1], [0, 0]])
    sf = _dump_and_read(str(tmp_path / f'scores.{ext}'), scores, targets)
    np.testing.assert_array_equal(sf.scores.astype(np.float32), scores)
    # the ranking and the thresholded decisions are those of the run
    ap = MultiLabelAP(per_class=True)
    ap.dataset_meta = dict(classes=['a', 'b'])
    ap.process(None, [dict(pred_score=torch.from_numpy(s),
                           gt_score=torch.tensor(t))
                      for s, t in zip(scores, targets)])
    printed = ap.evaluate(8)
    np.testing.assert_array_equal(
        average_precision_per_class(sf.scores, sf.gt),
        [printed['mAP/class/a'], printed['mAP/class/b']])
    np.testing.assert_array_equal(accuracy_per_class(sf.scores, sf.gt, 0.7),
                                  accuracy_per_class(scores, targets, 0.7))


@pytest.mark.slow
def test_metrics_recomputed_from_the_csv_equal_the_printed(demo_root,
                                                           tmp_path):
    work = str(tmp_path / 'work')
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root, work,
                            max_iters=2, val_interval=100)
    train_tool.main([cfg])
    out_csv = str(tmp_path / 'scores.csv')
    metrics = test_tool.main([cfg, osp.join(work, 'iter_2.pth'), '--out',
                              out_csv])
    sf = read_score_file(out_csv)
    recomputed = dict(
        auc=roc_auc_per_class(sf.scores, sf.gt),
        mAP=average_precision_per_class(sf.scores, sf.gt),
        mACC=accuracy_per_class(sf.scores, sf.gt),
        bACC=balanced_accuracy_per_class(sf.scores, sf.gt))
    for prefix, values in recomputed.items():
        for c, v in zip(sf.classes, values):
            printed = metrics[f'{prefix}/class/{c}']
            assert (np.isnan(v) and np.isnan(printed)) or v == printed, \
                (prefix, c, v, printed)
