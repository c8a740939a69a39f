"""Plain-text tables of evaluation results."""
import math
from typing import Dict, List, Optional, Sequence


def _fmt(v) -> str:
    if v is None:
        return '-'
    if isinstance(v, float) and math.isnan(v):
        return 'n/a'
    if isinstance(v, float):
        return f'{v:.4f}'
    return str(v)


def strict_json_values(obj):
    """``obj`` with every NaN / Inf float replaced by None (JSON ``null``).

    ``json.dump`` writes NaN as the bare token ``NaN``, which strict JSON
    readers (JavaScript's ``JSON.parse``, ``jq``, Go, Rust's serde) refuse.
    An undefined metric (a class with one label value) is NaN; in a metrics
    file it becomes ``null``. Dicts, lists and tuples are converted
    recursively; NumPy scalars become Python numbers.
    """
    if isinstance(obj, dict):
        return {k: strict_json_values(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json_values(v) for v in obj]
    if hasattr(obj, 'item') and getattr(obj, 'ndim', None) == 0:
        obj = obj.item()  # NumPy / torch scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def format_table(header: Sequence[str], rows: List[Sequence]) -> str:
    """A simple aligned text table."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        lines.append('  '.join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


#: Column / row names of the metric prefixes in the tables.
METRIC_LABELS = {
    'auc': ('AUC', 'AUC'),
    'mAP': ('AP', 'AP (mAP)'),
    'mACC': ('ACC', 'mACC (accuracy@0.5)'),
    'bACC': ('bACC', 'bACC (balanced acc@0.5)'),
}


def _label(prefix: str, summary: bool = False) -> str:
    names = METRIC_LABELS.get(prefix)
    return names[int(summary)] if names else prefix.upper()


def _class_cells(classes: Sequence[str],
                 positives: Optional[Sequence[int]],
                 head_classes: Sequence[str]) -> List[list]:
    """The leading cells of each class's row: ``[name, group, positives]``
    (group ``'head'`` / ``'tail'``, ``''`` without head classes;
    positives None when not given)."""
    return [[c, 'head' if c in head_classes else
             ('tail' if head_classes else ''),
             None if positives is None else int(positives[i])]
            for i, c in enumerate(classes)]


def per_class_table(metrics: Dict[str, float], classes: Sequence[str],
                    positives: Optional[Sequence[int]] = None,
                    metric_prefixes: Sequence[str] = ('auc', 'mAP'),
                    head_classes: Sequence[str] = ()) -> str:
    """Per-class table (name, group, positives, AUC, AP) from metric keys.

    Reads ``<prefix>/class/<name>`` entries (metrics run with
    ``per_class=True``); a metric without them is left out.
    """
    prefixes = [p for p in metric_prefixes
                if any(k.startswith(f'{p}/class/') for k in metrics)]
    header = ['class', 'group', 'positives'] + [_label(p) for p in prefixes]
    rows = [cells + [metrics.get(f'{p}/class/{c}') for p in prefixes]
            for c, cells in zip(classes,
                                _class_cells(classes, positives,
                                             head_classes))]
    return format_table(header, rows)


def summary_table(metrics: Dict[str, float],
                  metric_prefixes: Sequence[str] = ('auc', 'mAP')) -> str:
    """Rows: metrics; columns: all / head / tail."""
    rows = []
    for p in metric_prefixes:
        if f'{p}/mean' not in metrics:
            continue
        rows.append([_label(p, summary=True),
                     metrics.get(f'{p}/mean'), metrics.get(f'{p}/head'),
                     metrics.get(f'{p}/tail')])
    return format_table(['metric', 'all', 'head', 'tail'], rows)


def odir_table(metrics: Dict[str, float], prefix: str = 'odir') -> str:
    """The official ODIR score: rows all / head / tail, columns kappa, F1,
    AUC, final (and the positive-class F1 for reference)."""
    keys = ('kappa', 'f1', 'auc', 'final', 'f1_pos')
    rows = []
    for group, tag in (('all', ''), ('head', 'head/'), ('tail', 'tail/')):
        if f'{prefix}/{tag}final' in metrics:
            rows.append([group] + [metrics.get(f'{prefix}/{tag}{k}')
                                   for k in keys])
    return format_table(['classes', 'Kappa', 'F1', 'AUC', 'Final',
                         'F1 (positive)'], rows)


#: Columns of the clinical table: (metric key, header).
CLINICAL_COLUMNS = (('thr', 'thr'), ('sens', 'sens'), ('spec', 'spec'),
                    ('ppv', 'PPV'), ('npv', 'NPV'), ('f1', 'F1'))


def _with_ci(metrics: Dict[str, float], value_key: str, lo_key: str,
             hi_key: str) -> str:
    """``0.8123 [0.7901, 0.8342]`` (or the value alone without an
    interval)."""
    v = metrics.get(value_key)
    if v is None:
        return '-'
    lo, hi = metrics.get(lo_key), metrics.get(hi_key)
    if lo is None or hi is None or math.isnan(v):
        return _fmt(v)
    return f'{_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]'


def clinical_table(metrics: Dict[str, float], classes: Sequence[str],
                   positives: Optional[Sequence[int]] = None,
                   head_classes: Sequence[str] = (),
                   prefix: str = 'clinical') -> str:
    """Per class: threshold, sensitivity, specificity, PPV, NPV, F1 and AUC
    / AP with their bootstrap intervals (``MultiLabelClinicalReport`` and
    ``MultiLabelAUC`` / ``MultiLabelAP`` keys); a ``masked`` column (label
    cells left out, U-Ignore) when the evaluated set has masked cells."""
    level = metrics.get(f'{prefix}/bootstrap/level')
    ci = f' [{level:.0%} CI]' if level else ''
    masked = metrics.get(f'{prefix}/masked/total', 0) > 0
    header = ['class', 'group', 'positives'] + ['masked'] * masked + [
        h for _, h in CLINICAL_COLUMNS] + ['AUC' + ci, 'AP' + ci]
    rows = []
    for c, row in zip(classes,
                      _class_cells(classes, positives, head_classes)):
        row += [metrics.get(f'{prefix}/masked/class/{c}')] * masked
        row += [metrics.get(f'{prefix}/{k}/class/{c}')
                for k, _ in CLINICAL_COLUMNS]
        for src, key in (('auc', 'auc'), ('mAP', 'ap')):
            row.append(_with_ci(metrics, f'{src}/class/{c}',
                                f'{prefix}/{key}_lo/class/{c}',
                                f'{prefix}/{key}_hi/class/{c}'))
        rows.append(row)
    return format_table(header, rows)


def clinical_summary_table(metrics: Dict[str, float],
                           prefix: str = 'clinical') -> str:
    """Rows all / head / tail: mean sensitivity ... F1, AUC and mAP with
    their bootstrap intervals."""
    rows = []
    for g in ('mean', 'head', 'tail'):
        if f'{prefix}/sens/{g}' not in metrics:
            continue
        row = ['all' if g == 'mean' else g]
        row += [metrics.get(f'{prefix}/{k}/{g}')
                for k, _ in CLINICAL_COLUMNS[1:]]
        for src, key in (('auc', 'auc'), ('mAP', 'ap')):
            row.append(_with_ci(metrics, f'{src}/{g}',
                                f'{prefix}/{key}_lo/{g}',
                                f'{prefix}/{key}_hi/{g}'))
        rows.append(row)
    level = metrics.get(f'{prefix}/bootstrap/level')
    ci = f' [{level:.0%} CI]' if level else ''
    return format_table(['classes'] + [h for _, h in CLINICAL_COLUMNS[1:]]
                        + ['AUC' + ci, 'mAP' + ci], rows)


#: Columns of the calibration table: (key, header).
CALIBRATION_COLUMNS = (('ece', 'ECE'), ('cw_ece', 'ECE (equal-width)'),
                       ('brier', 'Brier'))


def calibration_table(metrics: Dict[str, float], classes: Sequence[str],
                      positives: Optional[Sequence[int]] = None,
                      head_classes: Sequence[str] = (),
                      prefix: str = 'calibration') -> str:
    """Per class, then the all / head / tail means: ECE, equal-width ECE
    and Brier score (``MultiLabelCalibration`` keys); the ``all`` row of
    the equal-width column is the classwise ECE."""
    rows = [cells + [metrics.get(f'{prefix}/{k}/class/{c}')
                     for k, _ in CALIBRATION_COLUMNS]
            for c, cells in zip(classes,
                                _class_cells(classes, positives,
                                             head_classes))]
    for g in ('mean', 'head', 'tail'):
        if f'{prefix}/ece/{g}' in metrics:
            rows.append(['mean (all)' if g == 'mean' else f'mean ({g})', '',
                         None] + [metrics.get(f'{prefix}/{k}/{g}')
                                  for k, _ in CALIBRATION_COLUMNS])
    return format_table(['class', 'group', 'positives'] +
                        [h for _, h in CALIBRATION_COLUMNS], rows)
