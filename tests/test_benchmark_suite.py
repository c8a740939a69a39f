"""tools/benchmark (tools/benchmark_suite.py): every baseline and ablation
config end to end.

The suite's smoke mode (tiny backbone, images and data; 2 training
iterations, validation, best checkpoint, test) runs every config of
configs/baselines and configs/ablations plus the LDR demo configs, on the
demo data and on tiny fixtures in the medical datasets' real formats.
"""
import glob
import json
import os.path as osp
import pathlib
import re
import shutil
import tempfile

import pytest
from mmengine.config import Config

import benchmark as suite

from medical_helpers import make_axspa, make_nih, make_odir

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Smoke mode in this process, one CPU thread (much faster on a busy box).
SMOKE = ['--smoke', '--in-process', '--threads', '1']


@pytest.fixture
def short_tmp():
    """A short temporary directory.

    MMEngine formats every config it logs, dumps or stores in a checkpoint
    with yapf, whose time explodes with long lines: under pytest's long
    tmp_path the smoke runs of the LDR configs took 5x longer.
    """
    d = tempfile.mkdtemp(prefix='bs')
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def table_rows(md):
    """{config name: [cells]} of the markdown results table (the first)."""
    rows = {}
    for line in md.splitlines():
        m = re.match(r'\| `([^`]+)` \|(.*)\|$', line)
        if m:
            rows[m.group(1)] = [c.strip().strip('*') for c in
                                m.group(2).split('|')]
        elif rows and not line.startswith('|'):
            break  # the table ended
    return rows


def check_results(work, names):
    md = open(osp.join(work, 'results.md')).read()
    rows = table_rows(md)
    assert set(rows) == set(names), (sorted(rows), sorted(names))
    for name, cells in rows.items():
        assert len(cells) == len(suite.COLUMNS)
        for c in cells:  # every column is a number in [0, 1]
            assert 0 <= float(c) <= 1, (name, cells)
    res = json.load(open(osp.join(work, 'results.json')))
    for name in names:
        r = res['results'][name]
        assert r['status'] == ['done'] or r['status'] == ['reused']
        m = r['metrics'][0]
        for key, _ in suite.COLUMNS:
            assert key in m
        assert any(k.startswith('mAP/class/') for k in m)
        run_dir = osp.join(work, name, 'seed0')
        for f in (f'{name}.py', 'run.json', 'test_metrics.json',
                  'test_scores.json'):
            assert osp.isfile(osp.join(run_dir, f)), (name, f)
    assert osp.getsize(osp.join(work, 'per_class.png')) > 1000
    return md, res


@pytest.mark.slow
def test_smoke_every_demo_config(short_tmp):
    """Demo baselines, LDR stage 1 / 2 and every ablation config."""
    work = str(short_tmp / 'demo')
    rc = suite.main(['--preset', 'all-demo', '--work-dir', work] + SMOKE)
    assert rc == 0
    names = [suite.run_name(c) for c in suite.PRESETS['all-demo']]
    md, res = check_results(work, names)
    assert 'smoke mode' in md and 'Seeds: 0' in md
    assert 'Tail mAP against the best baseline' in md
    # the validation numbers of the tested checkpoints, for choosing
    assert 'Validation split (the same checkpoints' in md
    # (smoke stage-2 runs log their 2-iteration validation under another
    # step, so not every smoke row has one; the real runs all do)
    assert any(v and 'auc/mean' in v[0] for v in
               (r['val_metrics'] for r in res['results'].values()))
    # stage-2 configs (and the train-longer controls) were chained to their own stage-1 run's checkpoint
    for name in names:
        run = json.load(open(osp.join(work, name, 'seed0', 'run.json')))
        cfg = open(osp.join(work, name, 'seed0', f'{name}.py')).read()
        if run['stage1_checkpoint']:
            assert run['stage1_checkpoint'] in cfg
            assert osp.isfile(run['stage1_checkpoint'])
            assert 'seed0' in run['stage1_checkpoint']
    # resumable: a second call reuses every run
    rc = suite.main(['--preset', 'all-demo', '--work-dir', work] + SMOKE)
    assert rc == 0
    res2 = json.load(open(osp.join(work, 'results.json')))
    assert all(r['status'] == ['reused'] for r in res2['results'].values())
    assert res2['results'][names[0]]['metrics'] == \
        res['results'][names[0]]['metrics']


@pytest.mark.slow
@pytest.mark.parametrize('key', ['nih', 'odir', 'spa'])
def test_smoke_medical_baselines(key, short_tmp):
    """The 6 baselines of each medical dataset on real-format fixtures; on
    AxSpA also LDR stages 1 and 2 and the paper's ablations."""
    root = str(short_tmp / key)
    if key == 'nih':
        make_nih(root)
    elif key == 'odir':
        make_odir(root, n_patients=30)
    else:
        make_axspa(root)
    work = str(short_tmp / 'work')
    preset = 'all-spa' if key == 'spa' else f'{key}-baselines'
    rc = suite.main(['--preset', preset, '--data-root', root,
                     '--reference', f'bce_r50_{key}', '--bootstrap', '20',
                     '--work-dir', work] + SMOKE)
    assert rc == 0
    names = [suite.run_name(c) for c in suite.PRESETS[preset]]
    md, res = check_results(work, names)
    comp = res['comparison']
    if key == 'odir':  # per-patient metrics, per-eye score files
        assert set(comp['skipped']) == set(names) and not comp['diffs']
        assert set(comp['skipped'].values()) == {'scored per patient_id'}
        assert 'no interval (scored per patient_id)' in md
    else:
        assert set(comp['diffs']) == set(names) - {f'bce_r50_{key}'}
    if key == 'odir':  # scored per patient, as the ODIR configs
        cfg = Config.fromfile(osp.join(work, 'bce_r50_odir', 'seed0',
                                       'bce_r50_odir.py'))
        assert {m.type for m in cfg.test_evaluator} >= set(
            suite.TABLE_METRICS)
        assert all(m.aggregate_by == 'patient_id'
                   for m in cfg.test_evaluator)
        assert 'odir/final' in res['results']['bce_r50_odir']['metrics'][0]


@pytest.mark.slow
def test_subprocess_runs_seeds_and_settings(short_tmp):
    """The default (subprocess) executor, two seeds, --epochs/--width."""
    work = str(short_tmp / 'w')
    cfg = 'configs/baselines/focal_r18_demo.py'
    rc = suite.main([cfg, '--smoke', '--seeds', '0', '1', '--threads', '1',
                     '--work-dir', work])
    assert rc == 0
    for seed in (0, 1):
        log = open(osp.join(work, 'focal_r18_demo', f'seed{seed}',
                            'train.log')).read()
        assert log.startswith('$ ') and 'tools/train.py' in log
        cfg = Config.fromfile(osp.join(work, 'focal_r18_demo',
                                       f'seed{seed}', 'focal_r18_demo.py'))
        assert cfg.randomness.seed == seed
    md = open(osp.join(work, 'results.md')).read()
    row = table_rows(md)['focal_r18_demo']
    assert all('±' in c for c in row), row  # mean +- std over 2 seeds
    assert 'Seeds: 0, 1' in md


@pytest.mark.slow
def test_reference_comparison_paired_bootstrap(short_tmp):
    """--reference: every other config's seed-mean difference to it, from
    the per-image score files, equals the difference of the metrics
    tools/test.py reported, with an interval around it."""
    work = str(short_tmp / 'w')
    rc = suite.main(['configs/baselines/bce_r18_demo.py',
                     'configs/baselines/focal_r18_demo.py', '--seeds', '0',
                     '1', '--reference', 'bce_r18_demo', '--bootstrap',
                     '200', '--confidence', '0.9', '--work-dir', work] +
                    SMOKE)
    assert rc == 0
    res = json.load(open(osp.join(work, 'results.json')))
    comp = res['comparison']
    assert comp['reference'] == 'bce_r18_demo' and comp['resamples'] == 200
    assert list(comp['diffs']) == ['focal_r18_demo'] and not comp['skipped']
    metrics = {n: res['results'][n]['metrics'] for n in res['results']}
    for key, _ in suite.BOOTSTRAP_COLUMNS:
        d = comp['diffs']['focal_r18_demo'][key]
        want = (sum(m[key] for m in metrics['focal_r18_demo']) / 2 -
                sum(m[key] for m in metrics['bce_r18_demo']) / 2)
        assert d['diff'] == pytest.approx(want, abs=1e-9), key
        assert d['low'] <= d['diff'] <= d['high'], (key, d)
        assert d['resamples'] > 150
    md = open(osp.join(work, 'results.md')).read()
    assert 'Difference to `bce_r18_demo`' in md and '90% paired-bootstrap' \
        in md
    row = [line for line in md.splitlines()
           if line.startswith('| `focal_r18_demo` |') and '[' in line]
    assert len(row) == 1 and row[0].count('[') == len(
        suite.BOOTSTRAP_COLUMNS)


@pytest.mark.slow
def test_resume_refuses_other_settings_and_force_retrains(short_tmp):
    work = str(short_tmp / 'w')
    args = ['configs/baselines/bce_r18_demo.py', '--work-dir', work] + SMOKE
    assert suite.main(args) == 0
    with pytest.raises(suite.SuiteError, match='other settings'):
        suite.main(args + ['--cfg-options', 'optim_wrapper.optimizer.lr=0.5'])
    first = json.load(open(osp.join(work, 'bce_r18_demo', 'seed0',
                                    'run.json')))
    assert suite.main(args + ['--cfg-options',
                              'optim_wrapper.optimizer.lr=0.5',
                              '--force']) == 0
    second = json.load(open(osp.join(work, 'bce_r18_demo', 'seed0',
                                     'run.json')))
    assert second['fingerprint'] != first['fingerprint']


@pytest.mark.slow
def test_failed_run_is_reported_and_dependants_skipped(short_tmp):
    """A broken stage 1: its row says failed, its stage 2 is skipped, the
    other configs still run, the exit status is 1."""
    bad1 = short_tmp / 'broken_stage1.py'
    bad1.write_text(
        "_base_ = [%r]\nmodel = dict(head=dict(loss=dict(_delete_=True, "
        "type='RobustAsymmetricLoss', lamb=0.1)))\n" % osp.join(
            REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage1.py'))
    bad2 = short_tmp / 'broken_stage2.py'
    bad2.write_text(
        "_base_ = [%r]\nstage1_config = './broken_stage1.py'\n" % osp.join(
            REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage2.py'))
    work = str(short_tmp / 'w')
    rc = suite.main([str(bad2), 'configs/baselines/bce_r18_demo.py',
                     '--work-dir', work] + SMOKE)
    assert rc == 1
    md = open(osp.join(work, 'results.md')).read()
    rows = table_rows(md)
    assert rows['broken_stage2'] == ['failed'] * len(suite.COLUMNS)
    assert float(rows['bce_r18_demo'][0]) >= 0
    assert 'broken_stage1` seed 0: failed: ValueError' in md
    assert 'lamb' in md
    assert 'broken_stage2` seed 0: skipped (stage 1 broken_stage1 failed)' \
        in md


def test_stage1_resolution_and_plan(tmp_path):
    s2 = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage2.py')
    cfg = suite.load_config(s2)
    assert suite.is_stage2(cfg)
    assert suite.stage1_config_of(s2, cfg) == osp.join(
        REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage1.py')
    child = tmp_path / 'child_stage2.py'
    child.write_text(f'_base_ = [{s2!r}]\n')
    assert suite.stage1_config_of(
        str(child), suite.load_config(str(child))).endswith(
            'ldr_r18_demo_stage1.py')
    missing = tmp_path / 'missing.py'
    missing.write_text(f"_base_ = [{s2!r}]\nstage1_config = './nope.py'\n")
    with pytest.raises(suite.SuiteError, match='nope.py'):
        suite.stage1_config_of(str(missing),
                               suite.load_config(str(missing)))
    runs = suite.plan_runs([s2, osp.join(REPO, 'configs', 'baselines',
                                         'bce_r18_demo.py')], [0, 1],
                           str(tmp_path))
    names = [(r.name, r.seed) for r in runs]
    assert names == [('ldr_r18_demo_stage1', 0), ('ldr_r18_demo_stage2', 0),
                     ('bce_r18_demo', 0), ('ldr_r18_demo_stage1', 1),
                     ('ldr_r18_demo_stage2', 1), ('bce_r18_demo', 1)]
    assert runs[1].stage1 is runs[0] and runs[4].stage1 is runs[3]


def test_parameter_ablations_are_variants_of_a_config(tmp_path):
    """``CONFIG.py@NAME=VALUE``: the config with the values set (a short
    name or a dotted key), its own row and run folder, chained to its base
    config's stage 1 (one run for all variants); a bad spec is a one-line
    error naming it."""
    paper = 'configs/ldrnet/ldr_r18_demo_stage2_paper.py'
    specs = [suite.repo_path(f'{paper}@alpha=0.1'),
             suite.repo_path(f'{paper}@sampler=natural,q=0.4'),
             suite.repo_path(f'{paper}@train_cfg.sampler.alpha=0.2')]
    assert specs[0] == osp.join(REPO, paper) + '@alpha=0.1'
    runs = suite.plan_runs(specs, [0], str(tmp_path))
    assert [r.name for r in runs] == [
        'ldr_r18_demo_stage1_paper', 'ldr_r18_demo_stage2_paper@alpha=0.1',
        'ldr_r18_demo_stage2_paper@sampler=natural,q=0.4',
        'ldr_r18_demo_stage2_paper@train_cfg.sampler.alpha=0.2']
    assert all(r.stage1 is runs[0] for r in runs[1:])
    assert len({r.dir for r in runs}) == 4
    runs[0].record = dict(checkpoint='/ckpts/s1/best.pth')
    from benchmark.overrides import resolve_run_config
    settings = suite.SuiteSettings(work_dir=str(tmp_path))
    got = [resolve_run_config(r, settings, str(tmp_path / '_smoke'))
           for r in runs[1:]]
    base = suite.load_config(osp.join(REPO, paper)).train_cfg.sampler
    assert [c.train_cfg.sampler.alpha for c in got] == [0.1, base.alpha, 0.2]
    assert got[1].train_cfg.sampler.mode == 'natural'
    assert got[1].model.head.loss.q == 0.4
    assert all(c.model.stage1_checkpoint == '/ckpts/s1/best.pth'
               for c in got)
    # the variant is a --reference by its row name
    args = suite.parse_args([specs[0], f'{paper}@alpha=0.3', '--work-dir',
                             str(tmp_path), '--reference',
                             'ldr_r18_demo_stage2_paper@alpha=0.3'])
    from benchmark.cli import resolve_configs
    assert len(resolve_configs(args)) == 2
    # --dry-run lists the runs of a preset of variants and trains nothing
    lines = []
    plan = str(tmp_path / 'plan')
    settings, runs, results = suite.run_suite(
        ['--preset', 'demo-sweeps', '--dry-run', '--work-dir', plan],
        lines.append)
    assert results is None and not osp.exists(plan)
    assert [r.name for r in runs if r.stage1 is None] == [
        'ldr_r18_demo_stage1_paper', 'ldr_r18_demo_stage1']
    assert 'ldr_r18_demo_stage2_paper@alpha=0.3 seed 0' in '\n'.join(lines)
    for bad, msg in (('@alpha', r'"alpha" is not NAME=VALUE'),
                     ('@nope=1', r'unknown parameter "nope"'),
                     ('@alpha=0.1,', r'"" is not NAME=VALUE')):
        with pytest.raises(suite.SuiteError, match=msg):
            suite.main([paper + bad, '--work-dir', str(tmp_path)])


def test_train_longer_control_is_chained_through_load_from(tmp_path):
    """A config with `stage1_config` and no `model.stage1_checkpoint` (the
    train-longer control) runs after its stage-1 run and starts from that
    run's checkpoint through `load_from`."""
    ctl = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage1_longer.py')
    cfg = suite.load_config(ctl)
    assert not suite.is_stage2(cfg)
    runs = suite.plan_runs([ctl], [0], str(tmp_path))
    assert [r.name for r in runs] == ['ldr_r18_demo_stage1',
                                      'ldr_r18_demo_stage1_longer']
    s1, run = runs
    assert run.stage1 is s1
    s1.record = dict(checkpoint='/ckpts/s1/best_auc_mean_epoch_12.pth')
    from benchmark.overrides import resolve_run_config
    settings = suite.SuiteSettings(work_dir=str(tmp_path))
    resolved = resolve_run_config(run, settings, str(tmp_path / '_smoke'))
    assert resolved.load_from == s1.record['checkpoint']
    assert 'stage1_checkpoint' not in resolved.model


def test_pretrained_regime_sets_backbone_and_lr_of_stage1_runs(tmp_path,
                                                               capsys):
    """--pretrained / --lr (the pretrained regime): every run that trains
    its config's backbone (baselines, stage 1) starts from the checkpoint's
    backbone at that lr; stage 2 keeps its stage-1 encoder and its E-step
    lr. A missing file or a non-positive lr is a one-line error."""
    ckpt = tmp_path / 'source.pth'
    ckpt.write_bytes(b'')
    demo = 'configs/ldrnet/ldr_r18_demo_stage2.py'
    args = suite.parse_args([
        demo, 'configs/baselines/csra_r18_demo.py', '--work-dir',
        str(tmp_path), '--pretrained', osp.relpath(ckpt), '--lr', '1e-4'])
    assert args.pretrained == str(ckpt)  # absolute: runs have other cwds
    settings = suite.SuiteSettings(work_dir=str(tmp_path),
                                   backbone_width=16,
                                   pretrained=args.pretrained, lr=args.lr)
    runs = suite.plan_runs([suite.repo_path(demo), suite.repo_path(
        'configs/baselines/csra_r18_demo.py')], [0], str(tmp_path))
    runs[0].record = dict(checkpoint='/ckpts/s1/best.pth')
    from benchmark.overrides import resolve_run_config
    got = {r.name: resolve_run_config(r, settings, str(tmp_path / '_s'))
           for r in runs}
    for name in ('ldr_r18_demo_stage1', 'csra_r18_demo'):
        assert got[name].model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone')
        assert got[name].model.backbone.base_channels == 16
        assert got[name].optim_wrapper.optimizer.lr == 1e-4
    plain = suite.load_config(suite.repo_path(demo))
    s2 = got['ldr_r18_demo_stage2']
    assert s2.model.stage1_checkpoint == '/ckpts/s1/best.pth'
    assert s2.model.backbone.get('init_cfg') is None
    assert s2.optim_wrapper.optimizer.lr == plain.optim_wrapper.optimizer.lr
    assert any('initialised from' in d for d in settings.describe())
    # the train-longer control continues its stage 1 at stage 2's E-step lr
    longer = 'configs/ldrnet/ldr_r18_demo_stage1_longer.py'
    s1, control = suite.plan_runs([suite.repo_path(longer)], [0],
                                  str(tmp_path))
    s1.record = dict(checkpoint='/ckpts/s1/best.pth')
    control = resolve_run_config(control, settings, str(tmp_path / '_s'))
    assert control.load_from == '/ckpts/s1/best.pth'
    assert control.model.backbone.get('init_cfg') is None
    assert control.optim_wrapper.optimizer.lr == \
        suite.load_config(suite.repo_path(longer)).optim_wrapper.optimizer.lr
    for bad, msg in ((['--pretrained', str(tmp_path / 'nope.pth')],
                      'nope.pth: no such file'),
                     (['--lr', '0'], '--lr must be > 0')):
        with pytest.raises(SystemExit):
            suite.parse_args([demo, '--work-dir', str(tmp_path)] + bad)
        assert msg in capsys.readouterr().err


def test_validation_metrics_of_the_tested_checkpoint(tmp_path):
    from benchmark.validation import (checkpoint_step,
                                      checkpoint_val_metrics,
                                      logged_validations)
    assert checkpoint_step('/w/best_auc_mean_epoch_12.pth') == 12
    assert checkpoint_step('best_mAP_tail_iter_0.pth') == 0
    assert checkpoint_step('iter_30.pth') == 30
    assert checkpoint_step('model.pth') is None

    def log(folder, lines):
        d = tmp_path / folder / 'vis_data'
        d.mkdir(parents=True)
        (d / 'scalars.json').write_text('\n'.join(lines) + '\n')

    train = '{"lr": 0.001, "loss": 0.5, "time": 0.1, "epoch": 1, "step": 10}'
    log('20260101_000000', [
        train, '{"auc/mean": 0.6, "mAP/tail": 0.1, "step": 1}',
        '{"auc/mean": 0.7, "mAP/tail": 0.2, "step": 2}'])
    # a resumed run re-validated step 2; its last line was cut by a kill
    log('20260102_000000', ['{"auc/mean": 0.75, "mAP/tail": 0.25, "step": 2}',
                            '{"auc/mean": 0.8, "mAP/t'])
    vals = logged_validations(str(tmp_path))
    assert sorted(vals) == [1, 2]  # the training line is not a validation
    assert vals[2] == {'auc/mean': 0.75, 'mAP/tail': 0.25}
    assert checkpoint_val_metrics(
        str(tmp_path), 'best_auc_mean_epoch_1.pth') == {'auc/mean': 0.6,
                                                        'mAP/tail': 0.1}
    assert checkpoint_val_metrics(str(tmp_path), 'epoch_3.pth') is None
    assert checkpoint_val_metrics(str(tmp_path), 'model.pth') is None


def test_one_dataset_only_and_bad_input(tmp_path):
    with pytest.raises(suite.SuiteError, match='one dataset'):
        suite.main(['configs/baselines/bce_r18_demo.py',
                    'configs/baselines/bce_r50_nih.py', '--work-dir',
                    str(tmp_path)])
    with pytest.raises(suite.SuiteError, match='not found'):
        suite.main(['configs/baselines/nope.py', '--work-dir',
                    str(tmp_path)])
    with pytest.raises(suite.SuiteError,
                       match='--reference dbloss_r18_demo is not one of'):
        suite.main(['configs/baselines/bce_r18_demo.py', '--reference',
                    'dbloss_r18_demo', '--work-dir', str(tmp_path)])


def test_markdown_table_formatting():
    def res(config, *vals):
        return dict(config=config, metrics=[
            {k: v for (k, _), v in zip(suite.COLUMNS, row)} for row in vals])
    results = {
        'bce': res('configs/baselines/bce.py', [0.5] * 8, [0.7] * 8),
        'ldr': res('configs/ldrnet/ldr.py', [0.65] * 8),
        'gone': dict(config='configs/ldrnet/gone.py', metrics=[]),
    }
    rows = table_rows(suite.markdown_table(results))
    assert rows['bce'][0] == '0.6000 ± 0.1414'
    assert rows['ldr'][0] == '0.6500'
    assert rows['gone'] == ['failed'] * 8
    md = suite.markdown_table(results)
    assert '**0.6500**' in md and '**0.6000' not in md
    gaps = suite.tail_gap_lines(results)
    assert gaps == ['- `ldr`: tail mAP 0.6500, +0.0500 vs the best baseline '
                    '`bce` (0.6000)']


def test_epoch_and_backbone_overrides():
    """--epochs shortens epoch schedules (cosine end follows) and leaves
    stage 2's iteration schedule; --backbone-width fixes neck / head."""
    s1 = suite.load_config(osp.join(REPO, 'configs', 'ldrnet',
                                    'ldr_r18_demo_stage1.py'))
    suite.set_epochs(s1, 5)
    assert s1.train_cfg.max_epochs == 5
    cos = [p for p in s1.param_scheduler if p.type == 'CosineAnnealingLR']
    assert cos[0].end == 5
    warm = [p for p in s1.param_scheduler if p.type == 'LinearLR']
    assert warm[0].end == 50 and not warm[0].by_epoch
    s2 = suite.load_config(osp.join(REPO, 'configs', 'ldrnet',
                                    'ldr_r18_demo_stage2.py'))
    before = s2.train_cfg.to_dict()
    suite.set_epochs(s2, 5)
    assert s2.train_cfg.to_dict() == before
    suite.set_backbone(s1, suite.tiny_backbone(16))
    assert s1.model.neck.in_channels == 128
    base = suite.load_config(osp.join(REPO, 'configs', 'baselines',
                                      'ral_r18_demo.py'))
    suite.set_backbone(base, suite.tiny_backbone(4))
    assert base.model.head.in_channels == 32
    assert base.model.backbone.base_channels == 4


@pytest.mark.parametrize('bench,strides,dilations', [
    ('demo', (1, 2, 2, 1), (1, 1, 1, 2)),
    ('mnistlt', (1, 2, 2, 2), (1, 1, 1, 1))])
def test_every_row_of_a_benchmark_has_its_output_stride(bench, strides,
                                                        dilations):
    """Every config of a built-in benchmark (baselines, LDR, paper,
    control, ablations) has that benchmark's backbone: output stride 16 on
    the demo, 32 on MNIST-LT (docs/recipe.md)."""
    paths = sorted(glob.glob(osp.join(REPO, 'configs', '*',
                                      f'*_r18_{bench}*.py')))
    assert len(paths) > 10
    for path in paths:
        bb = suite.load_config(path).model.backbone
        assert tuple(bb.strides) == strides, path
        assert tuple(bb.dilations) == dilations, path


def test_narrow_backbone_keeps_the_output_stride():
    """--backbone-width keeps the config's output stride (the demo's 16: a
    6 x 6 map of a 96 x 96 image, the neck's token grid; MNIST-LT's 32),
    and a config without strides (ResNet-50) gets MMPretrain's stride 32."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    maps = {}
    for path in ('ldrnet/ldr_r18_demo_stage1.py', 'baselines/ral_r18_demo.py',
                 'ldrnet/ldr_r18_mnistlt_stage2.py',
                 'baselines/dbloss_r18_mnistlt.py'):
        cfg = suite.load_config(osp.join(REPO, 'configs', path))
        tiny = suite.tiny_backbone(4, like=cfg.model.backbone)
        assert tiny['base_channels'] == 4
        assert tiny['strides'] == cfg.model.backbone.strides
        out = MODELS.build(tiny)(torch.zeros(1, 3, 96, 96))[-1]
        maps[path] = tuple(out.shape)
    assert maps == {
        'ldrnet/ldr_r18_demo_stage1.py': (1, 32, 6, 6),
        'baselines/ral_r18_demo.py': (1, 32, 6, 6),
        'ldrnet/ldr_r18_mnistlt_stage2.py': (1, 32, 3, 3),
        'baselines/dbloss_r18_mnistlt.py': (1, 32, 3, 3)}
    r50 = suite.load_config(osp.join(REPO, 'configs', 'ldrnet',
                                     'ldr_r50_nih_stage1.py'))
    tiny = suite.tiny_backbone(4, like=r50.model.backbone)
    assert 'strides' not in tiny and 'dilations' not in tiny
    out = MODELS.build(tiny)(torch.zeros(1, 3, 96, 96))[-1]
    assert tuple(out.shape) == (1, 32, 3, 3)


def test_validation_differences_are_paired_by_seed():
    """The decision table: config minus reference on validation at the same
    seed (a seed the reference lacks is left out), mean ± sd, and the seeds
    where the config is ahead."""
    from benchmark.report import val_difference_lines

    def val(m):
        return {'mAP/mean': m, 'mAP/tail': m / 2}
    results = {
        'ref': dict(val_seeds=[0, 1, 2], val_metrics=[val(.5), val(.6),
                                                       val(.7)]),
        'new': dict(val_seeds=[2, 0, 3], val_metrics=[val(.8), val(.3),
                                                       val(.9)]),
        'one': dict(val_seeds=[1], val_metrics=[val(.65)]),
    }
    lines = val_difference_lines(results, 'ref')

    def cells(name):
        row = next(ln for ln in lines if ln.startswith(f'| `{name}`'))
        head = lines[2].strip('|').split('|')
        return {h.strip(): c.strip()
                for h, c in zip(head, row.strip('|').split('|'))}
    # seeds 2 and 0: +0.1 and -0.2 (seed 3 has no reference run)
    assert cells('new')['mAP all'] == '-0.0500 ± 0.2121 (1/2)'
    assert cells('new')['mAP tail'] == '-0.0250 ± 0.1061 (1/2)'
    assert cells('new')['AUC all'] == 'n/a'
    assert cells('one')['mAP all'] == '+0.0500 (1/1)'
    assert not any(ln.startswith('| `ref`') for ln in lines)
    assert val_difference_lines(results, 'missing') == []
