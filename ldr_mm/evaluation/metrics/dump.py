"""Write per-image scores of an evaluation run to CSV or JSON."""
import csv
import io
import json
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmpretrain.registry import METRICS
from ldr_mm.utils.fileio import atomic_write
from .base import sample_targets
from .label_mask import MASKED, apply_gt_mask


def score_text(scores: np.ndarray) -> List[List[str]]:
    """The shortest decimal text of each float32 score that reads back as
    the same float32 (``repr`` of ``np.float32``).

    Six significant digits (``%g``) merged distinct scores into ties and
    changed the AP recomputed from the file; ``%.17g`` of the float64 value
    (JSON's default) reads back as 0.69999998 for a float32 0.7, which flips
    a ``score >= 0.7`` decision. The shortest round-trip text has neither
    problem: ``float(text)`` compares with a threshold like the run did.

    Args:
        scores (np.ndarray): (N, C) scores (float32 as the model gives).

    Returns:
        list[list[str]]: (N, C) texts.
    """
    return [[str(v) for v in row] for row in scores.astype(np.float32)]


@METRICS.register_module()
class MultiLabelScoreDump(BaseMetric):
    """Dump per-image scores and labels (``tools/test.py --out``).

    MMEngine's ``DumpResults`` pickles whole data samples; this writes a
    plain table a spreadsheet or pandas reads: one row per image with
    ``img_path``, ``score/<class>`` and ``gt/<class>`` columns (``.csv``), or
    the same as a JSON dict with ``classes``, ``img_path``, ``scores`` and
    ``gt`` lists (``.json``). A label cell is 1 or 0; a cell masked by the
    sample's ``gt_mask`` (U-Ignore) is empty (CSV) / ``null`` (JSON), so it
    stays apart from a negative; an image without labels has -1 cells
    (:mod:`ldr_mm.evaluation.score_file` reads all three). Scores are written
    as the shortest text that reads back as the same float32
    (:func:`score_text`), so metrics recomputed from the file equal the
    printed ones. The scores are the model's sigmoid outputs, before any
    calibration of a decision file (``tools/test.py --thresholds``): a
    reader applies the file's calibration itself
    (:meth:`ldr_mm.evaluation.Decisions.calibrate`). Written atomically by
    rank 0 only, after MMEngine gathered the results of all ranks (no
    duplicates).

    Args:
        out_file (str): ``*.csv`` or ``*.json``.
    """
    default_prefix = 'dump'

    def __init__(self, out_file: str, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not out_file.endswith(('.csv', '.json')):
            raise ValueError(f'--out must end with .csv or .json, got '
                             f'"{out_file}"')
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for s in data_samples:
            # the model's own sigmoid scores, also under a calibrating
            # decision file (which keeps them as ``uncalibrated_score``)
            score = s.get('uncalibrated_score', s['pred_score'])
            score = score.detach().float().cpu().numpy()
            if 'gt_score' in s or 'gt_label' in s:
                gt = apply_gt_mask(sample_targets(s, score.size), s)
                cells = [None if v == MASKED else int(v) for v in gt]
            else:
                cells = [-1] * score.size  # no labels
            self.results.append(
                (s.get('img_path', str(s.get('sample_idx', ''))), score,
                 cells))

    def compute_metrics(self, results: List[tuple]) -> dict:
        classes = list((self.dataset_meta or {}).get('classes') or [
            str(i) for i in range(results[0][1].size)
        ])
        paths = [r[0] for r in results]
        scores = np.stack([r[1] for r in results])
        gts = [r[2] for r in results]
        text = score_text(scores)
        if self.out_file.endswith('.json'):
            with atomic_write(self.out_file) as f:
                json.dump(
                    dict(classes=classes, img_path=paths,
                         scores=[[float(v) for v in r] for r in text],
                         gt=gts), f)
        else:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(['img_path'] + [f'score/{c}' for c in classes] +
                       [f'gt/{c}' for c in classes])
            for p, s, g in zip(paths, text, gts):
                w.writerow([p] + s + ['' if v is None else v for v in g])
            with atomic_write(self.out_file, newline='') as f:
                f.write(buf.getvalue())
        MMLogger.get_current_instance().info(
            f'Per-image scores of {len(paths)} images written to '
            f'{osp.abspath(self.out_file)}')
        return {}
