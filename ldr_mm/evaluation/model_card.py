"""A one-page markdown model card from a config, its checkpoint and the
``tools/test.py --metrics-out`` report.

Every number in the card is a value of the report (per-class AUC / AP with
their bootstrap intervals, sensitivity / specificity / PPV / NPV at the
report's thresholds, any calibration keys), of the checkpoint's ``meta``
(seed, iteration, versions) or of the config (recipe, preprocessing), so the
card is rebuilt, not re-measured. ``tools/analysis_tools/model_card.py``
writes it.
"""
import math
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

#: Keys of the report whose per-class values the performance table shows:
#: (column header, metric key prefix, bootstrap key prefix or None).
PERFORMANCE_COLUMNS = (
    ('threshold', 'clinical/thr', None),
    ('AUC', 'auc', 'clinical/auc'),
    ('AP', 'mAP', 'clinical/ap'),
    ('sensitivity', 'clinical/sens', 'clinical/sens'),
    ('specificity', 'clinical/spec', 'clinical/spec'),
    ('PPV', 'clinical/ppv', 'clinical/ppv'),
    ('NPV', 'clinical/npv', 'clinical/npv'),
)
#: Metric keys shown in the calibration section (whatever the report has).
CALIBRATION_KEY = re.compile(r'(^|/)(ece|cece|brier|calib)', re.IGNORECASE)
#: Dataset types of synthetic or toy data (the card says so).
SYNTHETIC_DATASETS = ('LDRDemoDataset', 'MNISTLTDataset',
                      'SyntheticMultiLabelDataset')
FEW_POSITIVES = 10
INTENDED_USE = (
    'Research use: reproducing and studying LDRNet (label decoupling and '
    'Gaussian reconstruction) for long-tailed multi-label image findings. '
    'The model returns one probability per finding; a finding is called '
    'positive when its probability is at least its threshold. It is not a '
    'medical device, has not been validated prospectively, and must not be '
    'used for diagnosis or to replace a clinician\'s reading.')


def fmt(value, digits: int = 4) -> str:
    """A report number as the card prints it (``n/a`` for undefined)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'n/a'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def _cell(metrics: dict, key: str, ci: Optional[str], suffix: str) -> str:
    value = fmt(metrics.get(f'{key}/{suffix}'))
    lo = metrics.get(f'{ci}_lo/{suffix}') if ci else None
    hi = metrics.get(f'{ci}_hi/{suffix}') if ci else None
    if lo is None or hi is None or value == 'n/a':
        return value
    return f'{value} [{fmt(lo)}, {fmt(hi)}]'


def _table(header: Sequence[str], rows: List[Sequence]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(lines)


def _group(c: str, head: Sequence[str], tail: Sequence[str]) -> str:
    return 'head' if c in head else ('tail' if c in tail else '')


class CardInputs:
    """What a card is made from.

    Args:
        config_name (str): The config file (as the user named it).
        cfg (Config): The config (with any overrides).
        report (dict): The ``tools/test.py --metrics-out`` JSON (``split``,
            ``metrics``, ``classes``, ``positives``, ``versions``).
        checkpoint (dict): :func:`ldr_mm.utils.checkpoint_meta.
            checkpoint_summary` of the checkpoint.
        counts (dict): ``{split: (num_images, per-class positives) or
            None}`` of the config's splits.
        head, tail (Sequence[str]): The groups.
        random_prompts (bool | None): The prompt cache holds random-weight
            embeddings (None: unknown / no prompts).
    """

    def __init__(self, config_name, cfg, report, checkpoint, counts, head,
                 tail, random_prompts=None):
        self.config_name = config_name
        self.cfg = cfg
        self.report = report
        self.metrics = report.get('metrics') or {}
        self.classes = list(report.get('classes') or [])
        self.split = report.get('split', 'test')
        self.checkpoint = checkpoint
        self.counts = counts
        self.head = list(head or [])
        self.tail = list(tail or [])
        self.random_prompts = random_prompts

    @property
    def dataset(self) -> dict:
        loader = self.cfg.get(f'{self.split}_dataloader') or {}
        ds = dict(loader.get('dataset') or {})
        while 'dataset' in ds and 'type' in ds and 'data_root' not in ds:
            ds = dict(ds['dataset'])  # wrappers (e.g. ClassBalanced)
        return ds


def _compact(d, top: bool = True) -> str:
    """``k=v, ...`` of a config dict (nested ones as ``dict(...)``)."""
    if isinstance(d, dict):
        inner = ', '.join(f'{k}={_compact(v, False)}' for k, v in d.items()
                          if k != 'init_cfg')
        return inner if top else f'dict({inner})'
    if isinstance(d, (list, tuple)):
        return '[' + ', '.join(_compact(v, False) for v in d) + ']'
    return str(d)


def data_section(ci: CardInputs) -> str:
    ds = ci.dataset
    lines = ['## Data', '',
             f'- Source: `{ds.get("type")}` at `{ds.get("data_root")}` '
             '(one dataset; images from its own site(s) only).']
    for split, got in ci.counts.items():
        n = 'not readable here' if got is None else f'{got[0]} images'
        lines.append(f'- {split} split: {n}')
    lines += ['', f'Positive images per class (the {ci.split} column is the '
              'report\'s `positives`):', '']
    splits = list(ci.counts)
    rows = []
    for i, c in enumerate(ci.classes):
        row = [c, _group(c, ci.head, ci.tail)]
        for s in splits:
            got = ci.counts[s]
            if s == ci.split and ci.report.get('positives') is not None:
                row.append(int(ci.report['positives'][i]))
            else:
                row.append('n/a' if got is None else int(got[1][i]))
        rows.append(row)
    return '\n'.join(lines) + '\n' + _table(['class', 'group'] + splits,
                                            rows)


def _stage(model) -> str:
    if model.get('type') == 'LDRStage2Classifier':
        return ('2 (Gaussian reconstruction; stage-1 weights from '
                f'{model.get("stage1_checkpoint")})')
    return '1 (label decoupling)'


def recipe_section(ci: CardInputs) -> str:
    cfg, model = ci.cfg, ci.cfg.model
    backbone = dict(model.backbone)
    init = backbone.get('init_cfg') or {}
    weights = init.get('checkpoint') if isinstance(init, dict) else None
    init = f'initialised from {weights}' if weights else \
        'trained from scratch'
    loader = cfg.get('train_dataloader') or {}
    optim = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
    seed = ci.checkpoint.get('seed', (cfg.get('randomness') or {}).get(
        'seed'))
    trained = ci.checkpoint.get('versions') or dict(
        mmengine=ci.checkpoint.get('mmengine_version'))
    return '\n'.join([
        '## Training recipe', '',
        f'- Model: `{model.get("type")}`; backbone `{_compact(backbone)}` '
        f'({init}); neck `{_compact(model.get("neck") or {})}`; head '
        f'`{_compact(model.get("head") or {})}`.',
        f'- Stage: {_stage(model)}.',
        f'- Schedule: `{_compact(cfg.get("train_cfg") or {})}`.',
        f'- Optimiser: `{_compact(optim)}`; batch size '
        f'{loader.get("batch_size")}; sampler '
        f'`{_compact(loader.get("sampler") or {})}`.',
        f'- Seed: {seed}; checkpoint at epoch {ci.checkpoint.get("epoch")}, '
        f'iteration {ci.checkpoint.get("iter")}.',
        f'- Versions at training: {_compact(trained)}; at evaluation: '
        f'{_compact(ci.report.get("versions") or {})}.'])


def performance_section(ci: CardInputs) -> str:
    m = ci.metrics
    n = m.get('clinical/bootstrap/resamples')
    level = m.get('clinical/bootstrap/level')
    how = (f'[{level:.0%} CI] from {int(n)} bootstrap resamples of the '
           'images' if n else 'no bootstrap intervals (`--bootstrap 0`)')
    header = ['class', 'group'] + [h for h, _, _ in PERFORMANCE_COLUMNS]
    rows = [[c, _group(c, ci.head, ci.tail)] +
            [_cell(m, key, b, f'class/{c}') for _, key, b in
             PERFORMANCE_COLUMNS] for c in ci.classes]
    for g in ('mean', 'head', 'tail'):
        if f'auc/{g}' in m or f'clinical/sens/{g}' in m:
            rows.append([f'**{g}**', ''] + [
                '' if key == 'clinical/thr' else _cell(m, key, b, g)
                for _, key, b in PERFORMANCE_COLUMNS])
    return '\n'.join([
        f'## Performance ({ci.split} split)', '',
        f'Sensitivity, specificity, PPV and NPV at the thresholds of the '
        f'report; AUC and AP with {how}. `n/a`: undefined (a class with '
        'one label value).', '', _table(header, rows)])


def calibration_section(ci: CardInputs) -> str:
    # the means (all / head / tail) and settings; the per-class values are
    # in the test report (one page)
    keys = [k for k in ci.metrics
            if CALIBRATION_KEY.search(k) and '/class/' not in k]
    lines = ['## Calibration', '']
    if not keys:
        lines.append('The report holds no calibration measure (ECE, Brier): '
                     'the probabilities are not shown to be calibrated.')
        return '\n'.join(lines)
    return '\n'.join(lines + [_table(['metric', 'value'], [
        [f'`{k}`', fmt(ci.metrics[k])] for k in sorted(keys)])])


def groups_section(ci: CardInputs) -> str:
    return '\n'.join([
        '## Head / tail groups', '',
        f'- head ({len(ci.head)}): {", ".join(ci.head) or "-"}',
        f'- tail ({len(ci.tail)}): {", ".join(ci.tail) or "-"}'])


def known_limits(ci: CardInputs) -> List[str]:
    """The limits that follow from the config, checkpoint and report."""
    ds = ci.dataset
    out = [f'Trained and evaluated on one source (`{ds.get("type")}`); '
           'not validated on other sites, scanners or populations.']
    if ds.get('type') in SYNTHETIC_DATASETS:
        out.append('Synthetic / toy data: these numbers say nothing about '
                   'clinical images.')
    init = (ci.cfg.model.backbone.get('init_cfg') or {})
    if not (isinstance(init, dict) and init.get('checkpoint')):
        out.append('Backbone trained from scratch (no pretrained weights).')
    if ci.random_prompts:
        out.append('Label prompts are random embeddings (no CLIP weights): '
                   'the label-semantic prior of LDRNet is absent.')
    thr = [ci.metrics.get(f'clinical/thr/class/{c}') for c in ci.classes]
    if thr and all(t == 0.5 for t in thr):
        out.append('Thresholds are a fixed 0.5, not chosen on validation '
                   '(tools/misc/choose_thresholds.py).')
    few = [c for c, p in zip(ci.classes, ci.report.get('positives') or [])
           if p < FEW_POSITIVES]
    if few:
        out.append(f'Fewer than {FEW_POSITIVES} positive {ci.split} images '
                   f'for {", ".join(few)}: their metrics are unreliable '
                   '(wide or undefined intervals).')
    if ci.split != 'test':
        out.append(f'Evaluated on the {ci.split} split, not a held-out '
                   'test split.')
    return out


def model_card(ci: CardInputs) -> str:
    """The card's markdown."""
    title = osp.splitext(osp.basename(ci.config_name))[0]
    limits = '\n'.join(f'- {x}' for x in known_limits(ci))
    sections = [
        f'# Model card: {title}', '',
        f'Config `{ci.config_name}`; checkpoint '
        f'`{ci.checkpoint.get("file")}`; {len(ci.classes)} findings; '
        f'report of the {ci.split} split.',
        '', '## Intended use', '', INTENDED_USE,
        '', data_section(ci), '', recipe_section(ci),
        '', performance_section(ci), '', calibration_section(ci),
        '', groups_section(ci), '', '## Known limits', '', limits]
    return '\n'.join(sections) + '\n'
