"""Validation metrics of the checkpoint a run tested, read from its logs.

Settings are chosen on the validation split, never on the test split. The
runs already validate during training (that is how ``save_best`` picks the
tested checkpoint), so the suite reads those numbers back instead of
evaluating again: MMEngine's ``vis_data/scalars.json`` of the run holds one
line per validation with its ``step`` (the epoch, or the iteration where the
logger has ``log_metric_by_epoch=False``: iteration-based and stage-2
configs), and the checkpoint's name says which step it is.
"""
import glob
import json
import os.path as osp
import re
from typing import Dict, Optional

_STEP = re.compile(r'(epoch|iter)_(\d+)\.pth$')


def checkpoint_step(checkpoint: str) -> Optional[int]:
    """The epoch or iteration in a checkpoint's file name
    (``best_auc_mean_epoch_12.pth`` -> 12, ``iter_30.pth`` -> 30)."""
    m = _STEP.search(osp.basename(checkpoint))
    return int(m.group(2)) if m else None


def logged_validations(run_dir: str) -> Dict[int, Dict[str, float]]:
    """Every validation logged under ``run_dir``: {step: {metric: value}}.

    A resumed run has several timestamped log folders; a later line for the
    same step replaces an earlier one (the resumed run's).
    """
    out: Dict[int, Dict[str, float]] = {}
    files = sorted(glob.glob(osp.join(run_dir, '*', 'vis_data',
                                      'scalars.json')))
    for path in files:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut by a killed run
                # training lines carry the loss; validation lines do not
                if 'step' not in rec or 'loss' in rec or 'lr' in rec:
                    continue
                out[int(rec['step'])] = {
                    k: float(v) for k, v in rec.items()
                    if k != 'step' and isinstance(v, (int, float))}
    return out


def checkpoint_val_metrics(run_dir: str,
                           checkpoint: str) -> Optional[Dict[str, float]]:
    """The validation metrics logged at ``checkpoint``'s step, or None when
    its name has no step or no validation was logged there."""
    step = checkpoint_step(checkpoint)
    if step is None:
        return None
    return logged_validations(run_dir).get(step)
