"""Issue 13.8: tools/infer.py on a folder of images of different sizes (the
demo test pipeline keeps each image's size, so batches group equal sizes)."""
import csv
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from inference_helpers import SIZE, load_tool, make_tiny_run

infer_tool = load_tool('infer.py')


@pytest.mark.slow
def test_infer_on_a_folder_of_mixed_sizes(tmp_path):
    run = make_tiny_run(str(tmp_path / 'run'))
    folder = tmp_path / 'mixed'
    folder.mkdir()
    rng = np.random.default_rng(0)
    sizes = [(SIZE, SIZE), (48, 40), (SIZE, SIZE), (SIZE, SIZE), (48, 40),
             (80, 96), (80, 96)]
    for i, (h, w) in enumerate(sizes):
        img = rng.integers(0, 256, (h, w), dtype=np.uint8)
        assert cv2.imwrite(str(folder / f'{i}.png'), img)
    out = str(tmp_path / 'r.csv')
    infer_tool.main([run.config, run.checkpoint, str(folder), '--batch-size',
                     '4', '--out', out, '--no-progress'])
    batched = list(csv.DictReader(open(out)))
    assert [osp.basename(r['img_path']) for r in batched] == \
        [f'{i}.png' for i in range(len(sizes))]
    one = str(tmp_path / 'one.csv')
    infer_tool.main([run.config, run.checkpoint, str(folder), '--batch-size',
                     '1', '--out', one, '--no-progress'])
    single = list(csv.DictReader(open(one)))
    for a, b in zip(batched, single):
        for k in a:
            if k.startswith('score/'):
                assert float(a[k]) == pytest.approx(float(b[k]), abs=2e-6)
