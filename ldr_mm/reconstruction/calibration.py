"""Tail calibration of the positive Gaussians (Distribution Calibration).

Yang et al., "Free Lunch for Few-shot Learning: Distribution Calibration"
(ICLR 2021), estimate a few-shot class's Gaussian from the statistics of the
k base classes whose means are nearest (Euclidean) to it::

    mu'    = (sum_{i in N_k} mu_i + x~) / (k + 1)
    Sigma' = sum_{i in N_k} Sigma_i / k + alpha

(x~ the single support feature, so the novel class has no covariance of its
own; their reference code adds the scalar alpha to every entry).

Multi-label, per class c and label j (:class:`GaussianStatistics`), we use:

* **Receivers**: only the positive group j = 1 of a class with
  ``1 <= n_c^1 <= max_n`` (default ``max_n = D``: the rank-deficient
  groups). The negative group (j = 0) is large in a long-tailed multi-label
  set and is never changed. A class without (known) positives
  (``n_c^1 = 0``, ``valid[c, 1] = False``) has no mean to search from: left
  untouched and reported.
* **Donors**: positive groups with ``n_i^1 >= min_donor_n`` (default
  ``max_n + 1``; it must exceed ``max_n``, so no group both gives and
  receives and the result does not depend on an order). The k donors are
  the ones whose positive means are nearest to ``mu_c^1``, ties broken by
  the lower class index; fewer than k donors: all of them; none: the class
  is left untouched and reported.
* **Covariance**: ``Sigma_c^1' = (Sigma_c^1 + sum_i Sigma_i^1) / (k' + 1)
  + alpha * v * I`` with k' the donors used and v the mean variance
  (trace / D) of the average: unlike the one-shot paper we keep the class's
  own (regularised) covariance as one of the k' + 1 terms, and alpha is
  relative, as ``ridge`` is (scale-free). ``cov_type='diag'`` averages the
  variances.
* **Mean** (``shift_mean=True`` only): ``mu_c^1' = (mu_c^1 + sum_i
  mu_i^1) / (k' + 1)``. Off by default: class-aware features of different
  classes sit in different label-embedding slots, and pulling the positive
  mean toward other findings' positives moves the LDA direction
  ``Sigma^-1 (mu^1 - mu^0)`` away from class c's own evidence.

Counts, validity, shrinkage and ridge are copied unchanged (the sampler's
p_c does not move); each calibrated group gets a ``regularisation`` entry,
and ``extra['calibration']`` holds the options and the report. For a
calibrated group the recovery of S from Sigma of
:mod:`~ldr_mm.reconstruction.statistics` no longer holds.
"""
import copy
from typing import List, Optional, Tuple

import torch

from .statistics import GaussianStatistics

#: Keys of ``train_cfg.calibration``.
CALIBRATION_KEYS = ('k', 'max_n', 'min_donor_n', 'alpha', 'shift_mean')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_calibration(cfg: Optional[dict]) -> Optional[dict]:
    """Validate and complete a calibration config (None: switched off).

    Args:
        cfg (dict, optional): Any of :data:`CALIBRATION_KEYS`.

    Returns:
        dict | None: All keys, defaults filled in (``max_n`` and
        ``min_donor_n`` may stay None: resolved against D and ``max_n`` by
        :func:`calibrate_statistics`).

    Raises:
        ValueError: An unknown key or a bad value, naming the setting.
    """
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise ValueError('train_cfg.calibration must be None or a dict of '
                         f'{CALIBRATION_KEYS}, got {cfg!r}')
    unknown = set(cfg) - set(CALIBRATION_KEYS)
    if unknown:
        raise ValueError(f'Unknown calibration keys {sorted(unknown)} '
                         f'(known: {CALIBRATION_KEYS})')
    out = dict(k=2, max_n=None, min_donor_n=None, alpha=0.0,
               shift_mean=False)
    out.update(copy.deepcopy(cfg))
    if not _is_int(out['k']) or out['k'] < 1:
        raise ValueError(f'calibration.k must be an integer >= 1, got '
                         f'{out["k"]!r}; to switch calibration off set '
                         'train_cfg.calibration=None')
    for key, low in (('max_n', 1), ('min_donor_n', 2)):
        v = out[key]
        if v is not None and (not _is_int(v) or v < low):
            raise ValueError(f'calibration.{key} must be None or an integer '
                             f'>= {low}, got {v!r}')
    if out['max_n'] is not None and out['min_donor_n'] is not None and \
            out['min_donor_n'] <= out['max_n']:
        raise ValueError(
            f'calibration.min_donor_n={out["min_donor_n"]} <= max_n='
            f'{out["max_n"]}: a donor must have more positives than the '
            'classes it calibrates; raise min_donor_n or lower max_n')
    if not isinstance(out['alpha'], (int, float)) or \
            isinstance(out['alpha'], bool) or not out['alpha'] >= 0:
        raise ValueError(f'calibration.alpha must be a number >= 0 (relative '
                         f'to the mean variance), got {out["alpha"]!r}')
    if not isinstance(out['shift_mean'], bool):
        raise ValueError('calibration.shift_mean must be True or False, got '
                         f'{out["shift_mean"]!r}')
    out['alpha'] = float(out['alpha'])
    return out


def _resolve_thresholds(opts: dict, dims: int) -> Tuple[int, int]:
    """(max_n, min_donor_n) with the defaults D and max_n + 1."""
    max_n = opts['max_n'] if opts['max_n'] is not None else dims
    min_donor_n = opts['min_donor_n'] if opts['min_donor_n'] is not None \
        else max_n + 1
    if min_donor_n <= max_n:
        raise ValueError(
            f'calibration.min_donor_n={min_donor_n} <= max_n={max_n} (max_n '
            f'defaults to D={dims}): raise min_donor_n or set max_n lower')
    return max_n, min_donor_n


def nearest_donors(means: torch.Tensor, receivers: List[int],
                   donors: List[int], k: int) -> dict:
    """The k donors nearest to each receiver.

    Args:
        means (Tensor): (C, D) positive-group means mu_c^1.
        receivers (list[int]): Classes to calibrate.
        donors (list[int]): Eligible donor classes (disjoint from
            ``receivers``).
        k (int): Donors per receiver (all of them if fewer).

    Returns:
        dict: receiver -> list of (donor, Euclidean distance), nearest
        first, ties broken by the lower donor index.
    """
    out = {}
    if not donors:
        return {c: [] for c in receivers}
    don = torch.tensor(donors, device=means.device)
    for c in receivers:
        dist = (means[don] - means[c]).norm(dim=-1)  # (len(donors),)
        order = torch.sort(dist, stable=True).indices[:k].tolist()
        out[c] = [(donors[i], float(dist[i])) for i in order]
    return out


def _calibrated_group(stats: GaussianStatistics, c: int, donor_idx: List[int],
                      alpha: float, shift_mean: bool):
    """New (mean (D,), cov (D, D) or (D,)) of the positive group of c."""
    group = [c] + donor_idx
    cov = stats.cov[group, 1].mean(0)
    full = stats.cov_type == 'full'
    var = cov.diagonal() if full else cov
    bump = alpha * float(var.mean().clamp_min(1e-12))
    if full:
        cov = cov + bump * torch.eye(cov.shape[-1], dtype=cov.dtype,
                                     device=cov.device)
    else:
        cov = cov + bump
    mean = stats.mean[group, 1].mean(0) if shift_mean else stats.mean[c, 1]
    return mean, cov


def _report_entry(c, n, names, donors, action) -> dict:
    return {'class_index': c, 'class': names[c], 'n': n,
            'donors': [names[d] for d, _ in donors],
            'donor_indices': [d for d, _ in donors],
            'distances': [round(x, 6) for _, x in donors], 'action': action}


def _log_regularisation(out: GaussianStatistics, c: int, n: int, name: str,
                        action: str) -> None:
    """Append ``action`` to the (c, 1) regularisation entry, or add one."""
    for e in out.regularisation:
        if e['class_index'] == c and e['label'] == 1:
            e['action'] = f'{e["action"]}; then {action}'
            return
    out.regularisation.append(
        {'class_index': c, 'label': 1, 'n': n, 'action': action,
         'class': name})


def _apply(stats, out, chosen, names, opts, min_donor_n) -> List[dict]:
    """Write the calibrated groups into ``out``; the report."""
    n_pos = stats.counts[:, 1].tolist()
    report = []
    for c in range(stats.num_classes):
        if not bool(stats.valid[c, 1]):
            report.append(_report_entry(
                c, 0, names, [], 'no positives: left untouched'))
        elif c in chosen and not chosen[c]:
            report.append(_report_entry(
                c, n_pos[c], names, [], 'no donor with n >= '
                f'{min_donor_n} positives: left untouched'))
        elif c in chosen:
            mean, cov = _calibrated_group(stats, c, [d for d, _ in chosen[c]],
                                          opts['alpha'], opts['shift_mean'])
            out.mean[c, 1], out.cov[c, 1] = mean, cov
            action = ('calibrated: positive covariance averaged with donors '
                      + ', '.join(names[d] for d, _ in chosen[c]) +
                      (', mean too' if opts['shift_mean'] else '') +
                      (f', + {opts["alpha"]:g} x mean variance on the '
                       'diagonal' if opts['alpha'] else ''))
            report.append(_report_entry(c, n_pos[c], names, chosen[c],
                                        action))
            _log_regularisation(out, c, n_pos[c], names[c], action)
    return report


def calibrate_statistics(stats: GaussianStatistics,
                         k: int = 2,
                         max_n: Optional[int] = None,
                         min_donor_n: Optional[int] = None,
                         alpha: float = 0.0,
                         shift_mean: bool = False
                         ) -> Tuple[GaussianStatistics, List[dict]]:
    """Borrow the positive covariances of near, well-populated classes.

    Semantics in the module docstring. The input is not modified.

    Args:
        stats (GaussianStatistics): C classes, width D; ``mean`` (C, 2, D),
            ``cov`` (C, 2, D, D) or variances (C, 2, D), ``counts`` (C, 2)
            of the known labels.
        k (int): Donors per calibrated class (>= 1). Defaults to 2.
        max_n (int, optional): Calibrate classes with 1 <= n_c^1 <= max_n.
            Defaults to D.
        min_donor_n (int, optional): Donors need n_i^1 >= min_donor_n
            (> max_n). Defaults to max_n + 1.
        alpha (float): Added to the diagonal, times the mean variance of the
            averaged covariance. Defaults to 0.
        shift_mean (bool): Average the positive means too. Defaults to
            False.

    Returns:
        tuple: The calibrated :class:`GaussianStatistics` (new tensors) and
        the report, one dict per class that was a receiver
        (1 <= n_c^1 <= max_n) or has no positives: ``class_index``,
        ``class``, ``n``, ``donors`` (names), ``donor_indices``,
        ``distances`` and ``action`` (a sentence).

    Raises:
        ValueError: A bad option (see :func:`check_calibration`).
        TypeError: ``stats`` is not a :class:`GaussianStatistics`.
    """
    if not isinstance(stats, GaussianStatistics):
        raise TypeError('calibrate_statistics needs a GaussianStatistics, '
                        f'got {type(stats).__name__}')
    opts = check_calibration(dict(k=k, max_n=max_n, min_donor_n=min_donor_n,
                                  alpha=alpha, shift_mean=shift_mean))
    max_n, min_donor_n = _resolve_thresholds(opts, stats.dims)
    names = stats.classes or [str(c) for c in range(stats.num_classes)]
    n_pos = stats.counts[:, 1].tolist()
    valid = stats.valid[:, 1].tolist()
    receivers = [c for c, n in enumerate(n_pos) if valid[c] and n <= max_n]
    donors = [c for c, n in enumerate(n_pos) if valid[c] and n >= min_donor_n]
    chosen = nearest_donors(stats.mean[:, 1], receivers, donors, opts['k'])
    out = copy.deepcopy(stats)  # the input stays untouched
    report = _apply(stats, out, chosen, names, opts, min_donor_n)
    out.regularisation.sort(key=lambda e: (e['class_index'], e['label']))
    out.extra['calibration'] = dict(opts, max_n=max_n,
                                    min_donor_n=min_donor_n,
                                    report=[dict(e) for e in report])
    return out, report
