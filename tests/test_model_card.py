"""tools/analysis_tools/model_card.py after tools/test.py: the card has its
sections, and every number in its tables is the report's."""
import json
import re

import numpy as np
import pytest

from inference_helpers import load_tool, make_tiny_run

SECTIONS = ('# Model card:', '## Intended use', '## Data',
            '## Training recipe', '## Performance (test split)',
            '## Calibration', '## Head / tail groups', '## Known limits')
CELL = re.compile(r'^(n/a|-?\d+\.\d+)(?: \[(-?\d+\.\d+), (-?\d+\.\d+)\])?$')


def md_table(card: str, heading: str):
    """Rows (lists of cells) of the first table after ``heading``."""
    lines = card[card.index(heading):].splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith('| '))
    rows = []
    for s in lines[start:]:
        if not s.startswith('|'):
            break
        rows.append([c.strip() for c in s.strip('|').split('|')])
    return rows[0], rows[2:]  # header, body (after the --- row)


def as_number(cell: str):
    m = CELL.match(cell)
    assert m, cell
    v = None if m.group(1) == 'n/a' else float(m.group(1))
    ci = None if m.group(2) is None else (float(m.group(2)),
                                          float(m.group(3)))
    return v, ci


def same(card_value, report_value):
    if report_value is None:
        return card_value is None
    return card_value == pytest.approx(report_value, abs=5e-5)


@pytest.mark.slow
def test_model_card_numbers_are_the_reports(tmp_path):
    from ldr_mm.evaluation import save_thresholds
    from ldr_mm.apis.dataset_labels import split_labels
    from ldr_mm.datasets.demo import DEMO_CLASSES
    run = make_tiny_run(str(tmp_path / 'run'))
    classes = list(DEMO_CLASSES)
    thr = str(tmp_path / 'thr.json')
    save_thresholds(thr, classes, np.linspace(0.3, 0.7, len(classes)), 'f1')
    report = str(tmp_path / 'report.json')
    load_tool('test.py').main([run.config, run.checkpoint, '--thresholds',
                               thr, '--bootstrap', '30', '--metrics-out',
                               report])
    data = json.load(open(report))
    data['metrics']['calibration/ece/mean'] = 0.123456  # any such key shows
    json.dump(data, open(report, 'w'))
    out = str(tmp_path / 'card.md')
    card = load_tool('analysis_tools/model_card.py').main(
        [run.config, run.checkpoint, report, '--out', out])
    assert open(out).read() == card
    for s in SECTIONS:
        assert s in card, s
    m = data['metrics']
    header, rows = md_table(card, '## Performance')
    assert header[:3] == ['class', 'group', 'threshold']
    keys = {'threshold': ('clinical/thr', None), 'AUC': ('auc', 'auc'),
            'AP': ('mAP', 'ap'), 'sensitivity': ('clinical/sens', None),
            'specificity': ('clinical/spec', None),
            'PPV': ('clinical/ppv', None), 'NPV': ('clinical/npv', None)}
    body = {r[0]: r for r in rows}
    for c in classes:
        for col, (key, ci) in keys.items():
            v, interval = as_number(body[c][header.index(col)])
            assert same(v, m[f'{key}/class/{c}']), (c, col)
            if ci and v is not None:
                assert interval == pytest.approx(
                    (m[f'clinical/{ci}_lo/class/{c}'],
                     m[f'clinical/{ci}_hi/class/{c}']), abs=5e-5)
    v, interval = as_number(body['**mean**'][header.index('AUC')])
    assert same(v, m['auc/mean'])
    assert 'from 30 bootstrap resamples' in card
    # per-class counts: test = the report's positives; train = the labels
    header, rows = md_table(card, '## Data')
    assert header == ['class', 'group', 'train', 'val', 'test']
    train = split_labels(run.config, 'train').counts
    for i, r in enumerate(rows):
        assert r[0] == classes[i]
        assert int(r[4]) == data['positives'][i]
        assert int(r[2]) == train[i]
    _, rows = md_table(card, '## Calibration')
    shown = {r[0].strip('`'): r[1] for r in rows}
    want = sorted(k for k in m if k.startswith('calibration/')
                  and '/class/' not in k)
    assert sorted(shown) == want and 'calibration/ece/head' in want
    assert shown['calibration/ece/mean'] == '0.1235'  # the injected value
    for k in want:
        assert same(float(shown[k]) if shown[k] != 'n/a' else None,
                    m[k]), k
    assert 'Synthetic / toy data' in card
    assert 'trained from scratch' in card
    assert 'Seed: 0; checkpoint at epoch' in card
    assert 'iteration 2' in card


def test_report_of_other_classes_is_refused(tmp_path):
    from conftest import STAGE1_DEMO_CFG
    report = tmp_path / 'r.json'
    report.write_text(json.dumps(dict(metrics={}, classes=['x', 'y'])))
    with pytest.raises(SystemExit, match='is for the classes'):
        load_tool('analysis_tools/model_card.py').main(
            [STAGE1_DEMO_CFG, 'ckpt.pth', str(report), '--out',
             str(tmp_path / 'c.md')])
    report.write_text('{"a": 1}')
    with pytest.raises(SystemExit, match='not a tools/test.py'):
        load_tool('analysis_tools/model_card.py').main(
            [STAGE1_DEMO_CFG, 'ckpt.pth', str(report), '--out',
             str(tmp_path / 'c.md')])
