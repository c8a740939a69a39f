"""`make demo` (tools/run_demo.py) and the suite's parallel runs it uses.

The demo is the benchmark suite's demo rows for one seed: these tests check
that it runs the suite's own configs and settings (so its table agrees with
docs/results_demo.md), that the suite's --jobs schedules stage 2 after its
stage 1 and trains the others side by side, and that the printed table says
where LDR is behind.
"""
import importlib.util
import os.path as osp
import re
import shlex
import shutil
import subprocess
import threading
import time

import pytest

import benchmark as suite
from benchmark import runs as suite_runs

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_run_demo():
    spec = importlib.util.spec_from_file_location(
        'run_demo', osp.join(REPO, 'tools', 'run_demo.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def results_demo_command():
    """The suite's options behind docs/results_demo.md (its Command line)."""
    text = open(osp.join(REPO, 'docs', 'results_demo.md')).read()
    cmd = re.search(r'^Command: `([^`]+)`', text, re.M).group(1)
    return shlex.split(cmd)


def option(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def test_demo_runs_the_suites_demo_rows_with_its_settings():
    demo = load_run_demo()
    argv = demo.suite_argv(demo.parse_args([]))
    documented = results_demo_command()
    # the settings that change a run's config are those of the 3-seed table
    for name in ('--backbone-width', '--threads'):
        assert option(argv, name) == option(documented, name), name
    assert option(argv, '--seeds') == '0'
    assert option(argv, '--work-dir') == 'work_dirs/demo'
    assert '--cfg-options' not in argv and '--epochs' not in argv
    # the rows: the named strongest baseline, recommended LDR 1 and 2, LDR
    # stage 2 on CSRA, all of them rows of the suite's demo table
    rows = suite.PRESETS[demo.PRESET]
    assert rows == [suite.DEMO_BASELINE,
                    'configs/ldrnet/ldr_r18_demo_stage1.py',
                    'configs/ldrnet/ldr_r18_demo_stage2.py',
                    'configs/ldrnet/ldr_r18_demo_stage2_csra.py']
    assert len(demo.LDR_LABELS) == len(rows) - 1
    assert suite.is_baseline(rows[0])
    assert set(rows) <= set(suite.PRESETS['demo'])
    # each row has its 3-seed results in docs/ (LDR stage 2 on CSRA: in
    # docs/baselines.md, made with the same suite settings)
    tables = ''.join(open(osp.join(REPO, 'docs', f)).read()
                     for f in ('results_demo.md', 'baselines.md'))
    for c in rows:
        assert f'| `{suite.run_name(c)}`' in tables, c
    # the suite accepts the options; --full keeps the configs' backbone and
    # goes elsewhere (the suite refuses other settings in one work dir)
    args = suite.parse_args(argv)
    assert args.jobs == 2 and args.threads == 1
    full = demo.suite_argv(demo.parse_args(['--full']))
    assert '--backbone-width' not in full
    assert option(full, '--work-dir') == 'work_dirs/demo_full'
    assert option(demo.suite_argv(demo.parse_args(
        ['--full', '--work-dir', 'x'])), '--work-dir') == 'x'


def fake_results(values):
    keys = [k for k, _ in suite.COLUMNS]
    return {name: dict(metrics=[{k: v + i * 0.01 for i, k in
                                 enumerate(keys)}])
            for name, v in values.items()}


def test_demo_table_says_where_ldr_is_behind():
    demo = load_run_demo()
    res = fake_results(dict(base=0.5, s1=0.4, s2=0.6))
    res['s2']['metrics'][0]['mAP/head'] = 0.1  # behind on one column only
    table, verdict = demo.demo_table(res, 'base', dict(s1='S1', s2='S2'))
    lines = table.splitlines()
    assert lines[0].split() == ['metric', 'base', 'S1', 'S2', 'S1', '-',
                                'baseline', 'S2', '-', 'baseline']
    assert len(lines) == 2 + 6  # header, rule, all / head / tail AUC, mAP
    row = dict((ln[:9].strip(), ln[9:].split()) for ln in lines[2:])
    assert row['mAP tail'] == ['0.5500', '0.4500', '0.6500', '-0.1000',
                               '+0.1000']
    assert row['mAP head'][-1] == '-0.4400'
    assert len(verdict['S1'][0]) == 6 and not verdict['S1'][1]
    assert verdict['S2'][0] == ['mAP head (-0.4400)']
    assert len(verdict['S2'][1]) == 5
    text = '\n'.join(demo.verdict_lines(verdict, 'base'))
    assert 'S1 is BEHIND base on: AUC all (-0.1000)' in text
    assert text.splitlines()[0].endswith('(every column).')
    assert text.splitlines()[1].startswith(
        'S2 is BEHIND base on: mAP head (-0.4400); ahead on: AUC all '
        '(+0.1000)')
    verdict['S2'] = ([], verdict['S2'][1])
    assert 'S2 is ahead of base on every column.' in '\n'.join(
        demo.verdict_lines(verdict, 'base'))


def test_jobs_option_checks():
    ok = suite.parse_args(['x.py', '--work-dir', 'w', '--jobs', '2'])
    assert ok.jobs == 2
    assert suite.parse_args(['x.py', '--work-dir', 'w']).jobs == 1
    for bad in (['--jobs', '0'], ['--jobs', '2', '--in-process']):
        with pytest.raises(SystemExit):
            suite.parse_args(['x.py', '--work-dir', 'w'] + bad)


def plan_demo(tmp_path):
    return suite.plan_runs([osp.join(REPO, c)
                            for c in suite.PRESETS['make-demo']], [0],
                           str(tmp_path))


def test_stage2_on_csra_is_chained_to_the_demos_csra_run(tmp_path):
    """LDR stage 2 on CSRA costs one stage-2 run: the suite chains it to
    the CSRA baseline run the demo trains anyway (no second CSRA run), and
    under the demo's settings its model gets the narrow backbone of that
    run, the CSRA head reading its width, so the checkpoint loads."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    runs = plan_demo(tmp_path)
    base, s1, s2, s2csra = runs
    assert base.name == 'csra_r18_demo' == suite.run_name(suite.DEMO_BASELINE)
    assert s2csra.name == 'ldr_r18_demo_stage2_csra'
    assert s2.stage1 is s1 and s2csra.stage1 is base
    demo = load_run_demo()
    argv = demo.suite_argv(demo.parse_args(['--work-dir', str(tmp_path)]))
    settings = suite.SuiteSettings(
        work_dir=str(tmp_path),
        backbone_width=int(option(argv, '--backbone-width')))
    cfg1 = suite.resolve_run_config(base, settings, str(tmp_path))
    init_default_scope('mmpretrain')
    stage1 = MODELS.build(cfg1.model)
    ckpt = tmp_path / 'csra.pth'
    torch.save(dict(state_dict=stage1.state_dict()), ckpt)
    base.record = dict(checkpoint=str(ckpt))
    cfg2 = suite.resolve_run_config(s2csra, settings, str(tmp_path))
    assert cfg2.model.type == 'CSRAStage2Classifier'
    assert cfg2.model.backbone == cfg1.model.backbone
    assert cfg2.model.head.in_channels == cfg1.model.head.in_channels == \
        8 * settings.backbone_width
    assert cfg2.model.stage1_checkpoint == str(ckpt)
    model = MODELS.build(cfg2.model)
    model.init_weights()  # loads the CSRA checkpoint (strict)
    for k, v in stage1.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k


def test_parallel_runs_wait_for_their_stage1(tmp_path, monkeypatch):
    """--jobs 2: the baseline and stage 1 train at the same time, stage 2
    only after stage 1 has finished; every run finishes once."""
    runs = plan_demo(tmp_path)
    base, s1, s2, s2csra = runs
    assert s2.stage1 is s1 and s2csra.stage1 is base
    spans, both = {}, threading.Barrier(2, timeout=10)

    def fake_do_run(run, settings, smoke_root, log):
        start = time.monotonic()
        if run in (base, s1):
            both.wait()  # fails (BrokenBarrierError) unless run side by side
        if run is s1:
            time.sleep(0.2)
        spans[run.name] = (start, time.monotonic())
        run.status = 'done'

    monkeypatch.setattr(suite_runs, 'do_run', fake_do_run)
    settings = suite.SuiteSettings(work_dir=str(tmp_path), jobs=2)
    suite.run_all(runs, settings, lambda m: None)
    assert [r.status for r in runs] == ['done'] * 4
    assert spans[s2.name][0] >= spans[s1.name][1]
    assert spans[s2csra.name][0] >= spans[base.name][1]


def test_parallel_failure_skips_its_stage2(tmp_path, monkeypatch):
    runs = plan_demo(tmp_path)
    base, s1, s2, s2csra = runs
    called = []

    def fake_do_run(run, settings, smoke_root, log):
        called.append(run.name)
        if run is s1:
            raise ValueError('broken stage 1')
        run.status = 'done'

    monkeypatch.setattr(suite_runs, 'do_run', fake_do_run)
    lines = []
    settings = suite.SuiteSettings(work_dir=str(tmp_path), jobs=2)
    suite.run_all(runs, settings, lines.append)
    assert base.status == s2csra.status == 'done' and s1.status == 'failed'
    assert s2.status.startswith('skipped (stage 1 ldr_r18_demo_stage1')
    assert s2.name not in called
    assert any('FAILED: ValueError: broken stage 1' in m for m in lines)

    # a SuiteError (bad inputs) still stops the suite
    runs = plan_demo(tmp_path)

    def refuse(run, settings, smoke_root, log):
        raise suite.SuiteError('other settings')

    monkeypatch.setattr(suite_runs, 'do_run', refuse)
    with pytest.raises(suite.SuiteError, match='other settings'):
        suite.run_all(runs, settings, lambda m: None)


@pytest.mark.slow
def test_run_demo_end_to_end_in_smoke_mode(tmp_path, capsys):
    """The real path: the suite's subprocess runs, two at a time, stage 2
    chained to stage 1 and stage 2 on CSRA to the CSRA baseline run, what
    each row is, the table of the four rows; a second call reuses the
    runs."""
    demo = load_run_demo()
    work = str(tmp_path / 'demo')
    demo.main(['--smoke', '--work-dir', work])
    out = capsys.readouterr().out
    names = [suite.run_name(c) for c in suite.PRESETS['make-demo']]
    header = [ln for ln in out.splitlines() if ln.startswith('metric ')]
    assert len(header) == 1 and header[0].split()[1:6] == [
        names[0], 'LDR', 'stage', '1', 'LDR']
    assert 'SMOKE MODE' in out
    assert f'  {names[0]}: the baseline, the strongest' in out
    assert (f'  LDR stage 2 on CSRA: {names[3]} (LDR\'s stage 2 on the '
            f'{names[0]} run)') in out
    assert f'  LDR stage 1: {names[1]} (trained from scratch)' in out
    assert ' '.join(header[0].split()).endswith(
        'LDR stage 2 on CSRA LDR stage 1 - baseline LDR stage 2 - baseline '
        'LDR stage 2 on CSRA - baseline')
    for label in ('AUC all', 'AUC head', 'AUC tail', 'mAP all', 'mAP head',
                  'mAP tail'):
        assert re.search(rf'^{label} +\d\.\d{{4}} ', out, re.M), label
    assert sum(ln.startswith(('LDR stage 1 is ', 'LDR stage 2 is ',
                              'LDR stage 2 on CSRA is '))
               for ln in out.splitlines()) == 3
    times = [ln for ln in out.splitlines()
             if ln.startswith('Train + test time: ')]
    assert len(times) == 1 and times[0].count(' s (CPU ') == 4, times
    for n in names:
        assert osp.isfile(osp.join(work, n, 'seed0', 'run.json')), n
    md = open(osp.join(work, 'results.md')).read()
    assert '--jobs 2' in md and '2 runs at a time' in md
    demo.main(['--smoke', '--work-dir', work])
    assert out.count('reusing') == 0
    assert capsys.readouterr().out.count('reusing') == 4


def test_subprocess_cpu_time_is_measured(tmp_path):
    """run.json's cpu_seconds: user + system time of a tool's process and
    its reaped children (the data loader workers), not wall time."""
    import os
    import sys
    busy = ('import multiprocessing as mp, time\n'
            'def spin():\n'
            '    t = time.process_time()\n'
            '    while time.process_time() - t < 0.3: pass\n'
            'if __name__ == "__main__":\n'
            '    p = mp.get_context("fork").Process(target=spin); p.start()\n'
            '    spin(); p.join(); print("ok")\n')
    script = tmp_path / 'busy.py'
    script.write_text(busy)
    with open(tmp_path / 'log', 'w') as log:
        rc, cpu = suite_runs.run_timed([sys.executable, str(script)], log,
                                       dict(os.environ))
    assert rc == 0 and (tmp_path / 'log').read_text().strip() == 'ok'
    assert cpu >= 0.55, cpu  # parent and child, 0.3 s each
    with open(tmp_path / 'log', 'w') as log:
        rc, _ = suite_runs.run_timed([sys.executable, '-c',
                                      'raise SystemExit(3)'], log,
                                     dict(os.environ))
    assert rc == 3


@pytest.mark.skipif(shutil.which('make') is None, reason='no make')
def test_make_demo_full_is_one_flag_away():
    """`make demo` runs the quick demo into work_dirs/demo; `make demo
    FULL=1` the full-width one into its own work dir (dry run)."""
    def dry(*extra):
        out = subprocess.run(
            ['make', '-n', '-o', '.venv/.ldr_mm-installed', 'demo', *extra],
            cwd=REPO, capture_output=True, text=True, check=True).stdout
        return [ln for ln in out.splitlines() if 'run_demo.py' in ln][0]
    quick, full = dry().split(), dry('FULL=1').split()
    assert quick[1:] == ['tools/run_demo.py', '--work-dir',
                         'work_dirs/demo']
    assert full[1:] == ['tools/run_demo.py', '--work-dir',
                        'work_dirs/demo_full', '--full']
