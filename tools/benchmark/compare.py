"""Every config against a reference config: paired bootstrap over images.

For each finished run the per-image test scores (``test_scores.json``) give
the ranking metrics on the test set and on B resamples of its images; the
resamples are drawn once and shared by all runs, so the difference of two
configs is evaluated on the same images in every resample (paired). Configs
scored per group (``aggregate_by``, e.g. ODIR-5K per patient) are left out:
their score files are per image, their metrics are not.
"""
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ldr_mm.evaluation.score_file import labelled, read_score_file

from .configs import SuiteError, load_config, run_name
from .presets import BOOTSTRAP_COLUMNS
from .settings import SuiteSettings
from .stats import bootstrap_indices, paired_bootstrap, resampled_metrics


def aggregated(cfg_file: str) -> Optional[str]:
    """The ``aggregate_by`` key of a run config's test metrics, if any."""
    ev = load_config(cfg_file).get('test_evaluator') or []
    for m in ev if isinstance(ev, (list, tuple)) else [ev]:
        if m.get('aggregate_by'):
            return m['aggregate_by']
    return None


def run_scores(run, classes: Sequence[str], img_paths: Optional[List[str]]):
    """(N, C) scores and labels of a run, rows in ``img_paths`` order."""
    sf = read_score_file(run.scores_file)
    if list(sf.classes) != list(classes):
        raise SuiteError(f'{sf.path}: classes {sf.classes}, expected '
                         f'{list(classes)}')
    if not labelled(sf):
        raise SuiteError(f'{sf.path}: the test split has no labels')
    if img_paths is None or sf.img_paths == img_paths:
        return sf.scores, sf.gt, sf.img_paths
    row = {p: i for i, p in enumerate(sf.img_paths)}
    if len(row) != len(sf.img_paths) or set(row) != set(img_paths):
        raise SuiteError(
            f'{sf.path} scores other test images than the reference run; '
            'the paired bootstrap needs the same test split for all configs')
    order = [row[p] for p in img_paths]
    return sf.scores[order], sf.gt[order], img_paths


def compare_to_reference(configs: Sequence[str], runs: List,
                         settings: SuiteSettings, dataset: Dict,
                         log: Callable[[str], None]) -> Dict:
    """Bootstrap intervals of each config's difference to the reference.

    Args:
        configs: The compared config files (the reference among them).
        runs: All :class:`~.runs.Run` of the invocation.
        settings: ``reference``, ``bootstrap``, ``confidence`` and
            ``bootstrap_seed`` are used.
        dataset: ``classes``, ``head_classes``, ``tail_classes``.

    Returns:
        dict: ``reference``, ``confidence``, ``resamples``, ``skipped``
        ({config: reason}) and ``diffs`` ({config: {metric key: dict(diff,
        low, high, p_better, resamples)}}).
    """
    ref = settings.reference
    out = dict(reference=ref, confidence=settings.confidence,
               resamples=settings.bootstrap, seed=settings.bootstrap_seed,
               skipped={}, diffs={})
    done = {}
    for r in runs:
        if r.config in configs and r.status in ('done', 'reused'):
            done.setdefault(run_name(r.config), []).append(r)
    if ref not in done:
        out['skipped'][ref] = 'the reference config has no finished run'
        return out
    groups = (dataset['classes'], dataset.get('head_classes') or (),
              dataset.get('tail_classes') or ())
    keys = [k for k, _ in BOOTSTRAP_COLUMNS]
    metrics, indices, paths = {}, None, None
    for name in [ref] + [n for n in done if n != ref]:
        key = aggregated(osp.join(done[name][0].dir, f'{name}.py'))
        if key:
            out['skipped'][name] = f'scored per {key}'
            continue
        per_seed = []
        for r in done[name]:
            scores, gt, paths = run_scores(r, groups[0], paths)
            if indices is None:
                n = scores.shape[0]
                indices = np.vstack([np.arange(n)[None], bootstrap_indices(
                    n, settings.bootstrap, settings.bootstrap_seed)])
            per_seed.append(resampled_metrics(scores, gt, indices, *groups))
        metrics[name] = per_seed
        log(f'bootstrap: {name} ({len(per_seed)} run(s)) done')
    if ref not in metrics:
        return out
    for name, per_seed in metrics.items():
        if name != ref:
            out['diffs'][name] = paired_bootstrap(
                per_seed, metrics[ref], keys, settings.confidence)
    return out
