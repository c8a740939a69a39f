"""The ablations: each changes exactly the setting its paper table /
figure varies, and nothing else, from the paper's configs
(configs/ldrnet/*_paper.py); the recommended recipe's variants (issue 12:
stage-1 loss, E-step loss, E-step and M-step settings) from the recommended
configs. Structural ablations are files (configs/ablations); parameter
ablations are the suite's variants ``CONFIG.py@NAME=VALUE`` of its presets
(tools/benchmark/variants.py), resolved here as the suite resolves them.

Their end-to-end runs are in tests/test_benchmark_suite.py (smoke mode).
"""
import glob
import os.path as osp

import pytest
from benchmark import PRESETS, load_config, run_name, stage1_config_of
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ABL = osp.join(REPO, 'configs', 'ablations')
#: ablation prefix -> (stage-1 config, stage-2 config, prompt cache)
SETS = {
    'ldr_r18_demo': ('ldr_r18_demo_stage1_paper.py',
                     'ldr_r18_demo_stage2_paper.py',
                     'data/ldr_demo/prompt_ViT-B-32_random.pth'),
    'ldr_r50_spa': ('ldr_r50_spa_stage1_paper.py',
                    'ldr_r50_spa_stage2_paper.py',
                    'data/prompts/axspa_ViT-B-32.pth'),
}
#: the recommended recipe's variants, on the two built-in benchmarks
RECIPE = ('ldr_r18_demo', 'ldr_r18_mnistlt')


def ldr(name):
    return osp.join(REPO, 'configs', 'ldrnet', name)


def flat(d, prefix=''):
    """{'a.b.0.c': value} of nested dicts / lists."""
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flat(v, f'{prefix}{k}.'))
    elif isinstance(d, (list, tuple)) and d and all(
            isinstance(x, dict) for x in d):
        for i, v in enumerate(d):
            out.update(flat(v, f'{prefix}{i}.'))
    else:
        out[prefix[:-1]] = d
    return out


def diff(path, base):
    """{key: (value of path, value of base)} where the resolved configs
    differ (``path`` a file or a suite variant ``CONFIG.py@NAME=VALUE``)."""
    a = flat(load_config(path).to_dict())
    b = flat(Config.fromfile(base).to_dict())
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b)
            if a.get(k) != b.get(k)}


def test_the_set():
    names = sorted(osp.basename(p) for p in glob.glob(osp.join(ABL, '*.py')))
    want = []
    for prefix in SETS:
        want += [f'{prefix}_stage{s}_noprompt.py' for s in (1, 2)]
    want += [f'ldr_r50_spa_stage{s}_{enc}.py' for s in (1, 2)
             for enc in TABLE5]  # Table 5 (language models): AxSpA only
    want += [f'{prefix}_{v}.py' for prefix in RECIPE
             for v in ('stage1_bce', 'stage2_bce', 'stage1_ral', 'stage2_ral',
                       'stage1_add', 'stage2_add', 'stage2_ebce',
                       'stage1_nogap', 'stage2_nogap')]
    assert names == sorted(want)


def test_the_parameter_ablations():
    """The sweeps of the presets: the paper's (sampler, alpha, q) on the
    paper's stage 2 of the demo and AxSpA, the recipe's (E-step, M-step) on
    the recommended stage 2 of the demo and MNIST-LT; every file ablation
    and sweep is a row of its benchmark's ``all-*`` preset."""
    paper = [f'sampler={m}' for m in ('uniform', 'natural')] + [
        f'alpha={a}' for a in (0.1, 0.3, 0.5, 0.7, 1.0)] + [
        f'q={q}' for q in (0.2, 0.4, 0.6, 1.0)]
    recipe = ['e_lr=0.0', 'e_lr=1e-4', 'e_iters=30', 'blend=1.0',
              'shrinkage=pooled,pooling=weighted']
    want = {
        'demo': [f'ldr_r18_demo_stage2_paper@{v}' for v in paper] + [
            f'ldr_r18_demo_stage2@{v}' for v in recipe + ['views=4']],
        'mnistlt': [f'ldr_r18_mnistlt_stage2@{v}' for v in recipe],
        'spa': [f'ldr_r50_spa_stage2_paper@{v}' for v in paper]}
    for bench, names in want.items():
        sweeps = [run_name(c) for c in PRESETS[f'{bench}-sweeps']]
        assert sorted(sweeps) == sorted(names)
        rows = [run_name(c) for c in PRESETS[f'all-{bench}']]
        assert set(names) <= set(rows)
        prefix = 'ldr_r50_spa' if bench == 'spa' else f'ldr_r18_{bench}'
        files = glob.glob(osp.join(ABL, f'{prefix}_*.py'))
        assert {osp.basename(f)[:-3] for f in files} <= set(rows)


def paper_stage1_of(path):
    """The stage 1 the suite chains a stage-2 ablation to (its file name)."""
    return osp.basename(stage1_config_of(path, load_config(path)))


def sweep(prefix, values, paper=False):
    """The suite variant of a benchmark's (paper) stage 2 with values."""
    return ldr(f'{prefix}_stage2{"_paper" if paper else ""}.py') + '@' + \
        values


@pytest.mark.parametrize('prefix', RECIPE)
def test_recipe_variants(prefix):
    """The recommended stage 1 uses the DB loss (+ its class-frequency
    hook) and the concatenated GAP path; the variants: stage 1 with BCE or
    RAL or the added GAP path, stage 2 on each, and stage 2 with a BCE
    E-step: one change each from the recommended configs."""
    s1, s2 = ldr(f'{prefix}_stage1.py'), ldr(f'{prefix}_stage2.py')
    rec = Config.fromfile(s1)
    assert rec.model.head.loss.type == 'DistributionBalancedLoss'
    assert rec.custom_hooks[-1].type == 'ClassFrequencyHook'
    paper = Config.fromfile(ldr(f'{prefix}_stage1_paper.py'))
    assert paper.model.head.loss.type == 'CrossEntropyLoss'
    assert 'ClassFrequencyHook' not in [h.type for h in paper.custom_hooks]
    d = diff(osp.join(ABL, f'{prefix}_stage1_bce.py'), s1)
    # the loss variables of configs/_base_/losses/multilabel.py
    d = {k: v for k, v in d.items() if not k.split('.')[0].endswith('_loss')}
    loss = {k for k in d if k.startswith('model.head.loss.')}
    assert d['model.head.loss.type'] == ('CrossEntropyLoss',
                                         'DistributionBalancedLoss')
    assert set(d) - loss == {'custom_hooks.4.type'}
    assert d['custom_hooks.4.type'] == (None, 'ClassFrequencyHook')
    path = osp.join(ABL, f'{prefix}_stage2_bce.py')
    d = diff(path, s2)
    assert set(d) <= {'model.stage1_checkpoint', 'stage1_config'}
    assert paper_stage1_of(path) == f'{prefix}_stage1_bce.py'
    # stage 1 with the robust asymmetric loss, and stage 2 on it
    d = diff(osp.join(ABL, f'{prefix}_stage1_ral.py'), s1)
    d = {k: v for k, v in d.items() if not k.split('.')[0].endswith('_loss')}
    assert d['model.head.loss.type'] == ('RobustAsymmetricLoss',
                                         'DistributionBalancedLoss')
    assert {k for k in d if not k.startswith('model.head.loss.')} == {
        'custom_hooks.4.type'}
    path = osp.join(ABL, f'{prefix}_stage2_ral.py')
    assert set(diff(path, s2)) <= {'model.stage1_checkpoint', 'stage1_config'}
    assert paper_stage1_of(path) == f'{prefix}_stage1_ral.py'
    # the previous recommended neck (GAP added, not appended), stage 2 on it
    d = diff(osp.join(ABL, f'{prefix}_stage1_add.py'), s1)
    assert d == {'model.neck.gap_residual': (True, 'concat')}
    path = osp.join(ABL, f'{prefix}_stage2_add.py')
    d = diff(path, s2)
    assert set(d) - {'model.stage1_checkpoint', 'stage1_config'} == {
        'model.neck.gap_residual'}
    assert paper_stage1_of(path) == f'{prefix}_stage1_add.py'
    # the paper's neck (no pooled feature) with the recommended loss
    d = diff(osp.join(ABL, f'{prefix}_stage1_nogap.py'), s1)
    assert d == {'model.neck.gap_residual': (False, 'concat')}
    path = osp.join(ABL, f'{prefix}_stage2_nogap.py')
    assert set(diff(path, s2)) - {'model.stage1_checkpoint',
                                  'stage1_config'} == {
        'model.neck.gap_residual'}
    assert paper_stage1_of(path) == f'{prefix}_stage1_nogap.py'
    path = osp.join(ABL, f'{prefix}_stage2_ebce.py')
    d = diff(path, s2)
    assert set(d) - {'model.head.loss.q', 'model.head.loss.use_sigmoid',
                     'stage1_config'} == {'model.head.loss.type'}
    assert d['model.head.loss.type'] == ('CrossEntropyLoss',
                                         'MultiLabelGCELoss')
    assert osp.basename(osp.normpath(osp.join(
        ABL, Config.fromfile(path).stage1_config))) == f'{prefix}_stage1.py'


@pytest.mark.parametrize('prefix', RECIPE)
def test_estep_and_control_variants(prefix):
    """E-step learning rate / iterations (issue 12 item 3), statistics
    views (item 5), the LDA head alone, the pooled LDA: one change each;
    the train-longer control's loss."""
    s2 = ldr(f'{prefix}_stage2.py')

    def change(values):  # and the suite chains the recommended stage 1
        path = sweep(prefix, values)
        assert paper_stage1_of(path) == f'{prefix}_stage1.py'
        return diff(path, s2)

    lr = 'optim_wrapper.optimizer.lr'
    assert change('e_lr=0.0') == {lr: (0.0, 1e-5)}
    assert change('e_lr=1e-4') == {lr: (1e-4, 1e-5)}
    # the checkpoint interval follows (one per round: EMTrainLoop)
    assert change('e_iters=30') == {
        'e_iters': (30, 10), 'train_cfg.e_iters': (30, 10)}
    assert change('blend=1.0') == {'train_cfg.m_solver.blend': (1.0, 0.5)}
    assert change('shrinkage=pooled,pooling=weighted') == {
        'train_cfg.m_solver.pooling': ('weighted', None),
        'train_cfg.shrinkage': ('pooled', None)}
    if prefix == 'ldr_r18_demo':
        assert change('views=4') == {
            'train_cfg.stats_dataloader.views': (4, None)}
    # the train-longer control trains with the stage-1 loss
    longer = Config.fromfile(ldr(f'{prefix}_stage1_longer.py'))
    assert longer.model.head.loss.type == 'DistributionBalancedLoss'
    assert [h.type for h in longer.custom_hooks].count(
        'ClassFrequencyHook') == 1


#: paper Table 5 row -> the prompt cache of its AxSpA configs
TABLE5 = {'clip': 'data/prompts/axspa_ViT-B-32.pth',
          'bluebert': 'data/prompts/axspa_bluebert.pth',
          'word2vec': 'data/prompts/axspa_word2vec.pth'}


@pytest.mark.parametrize('enc', TABLE5)
def test_language_model_ablations(enc):
    """Table 5: only the prompt cache changes; stage 2 chains to stage 1."""
    base = SETS['ldr_r50_spa'][2]
    d = diff(osp.join(ABL, f'ldr_r50_spa_stage1_{enc}.py'),
             ldr(SETS['ldr_r50_spa'][0]))
    assert d == ({} if enc == 'clip' else
                 {'model.neck.prompt_cache': (TABLE5[enc], base)})
    path = osp.join(ABL, f'ldr_r50_spa_stage2_{enc}.py')
    d = diff(path, ldr(SETS['ldr_r50_spa'][1]))
    assert set(d) - {'model.neck.prompt_cache'} == {
        'model.stage1_checkpoint', 'stage1_config'}
    assert Config.fromfile(path).model.neck.prompt_cache == TABLE5[enc]
    assert f'ldr_r50_spa_stage1_{enc}/' in d['model.stage1_checkpoint'][0]
    cfg = Config.fromfile(path)
    assert cfg.stage1_config == f'./ldr_r50_spa_stage1_{enc}.py'
    assert osp.isfile(osp.join(ABL, cfg.stage1_config))


@pytest.mark.parametrize('prefix', SETS)
def test_stage1_without_prompt(prefix):
    s1, _, cache = SETS[prefix]
    d = diff(osp.join(ABL, f'{prefix}_stage1_noprompt.py'), ldr(s1))
    assert d == {'model.neck.use_prompt': (False, None),
                 'model.neck.prompt_cache': (None, cache)}


@pytest.mark.parametrize('prefix', SETS)
def test_stage2_without_prompt_chains_to_stage1_without_prompt(prefix):
    path = osp.join(ABL, f'{prefix}_stage2_noprompt.py')
    d = diff(path, ldr(SETS[prefix][1]))
    assert set(d) == {'model.neck.use_prompt', 'model.neck.prompt_cache',
                      'model.stage1_checkpoint', 'stage1_config'}
    assert d['model.neck.use_prompt'][0] is False
    assert d['model.neck.prompt_cache'][0] is None
    assert f'{prefix}_stage1_noprompt/' in d['model.stage1_checkpoint'][0]
    cfg = Config.fromfile(path)
    assert cfg.stage1_config == f'./{prefix}_stage1_noprompt.py'
    assert osp.isfile(osp.join(ABL, cfg.stage1_config))


@pytest.mark.parametrize('prefix', SETS)
@pytest.mark.parametrize('name,key,value', [
    ('sampler=uniform', 'mode', 'uniform'),
    ('sampler=natural', 'mode', 'natural'),
    ('alpha=0.1', 'alpha', 0.1),
    ('alpha=0.3', 'alpha', 0.3),
    ('alpha=0.5', 'alpha', 0.5),
    ('alpha=0.7', 'alpha', 0.7),
    ('alpha=1.0', 'alpha', 1.0),
])
def test_sampler_ablations(prefix, name, key, value):
    stage2 = ldr(SETS[prefix][1])
    path = sweep(prefix, name, paper=True)
    d = diff(path, stage2)
    # the suite chains the paper's stage 1
    assert paper_stage1_of(path) == SETS[prefix][0]
    k = f'train_cfg.sampler.{key}'  # EMTrainLoop holds the sampler
    assert list(d) == [k], d
    assert d[k][0] == value
    base = Config.fromfile(stage2).train_cfg.sampler
    assert d[k][1] == base[key] and base.mode == 'reverse' and \
        base.alpha == 0.9


@pytest.mark.parametrize('prefix', SETS)
@pytest.mark.parametrize('q', [0.2, 0.4, 0.6, 1.0])
def test_gce_q_ablations(prefix, q):
    path = sweep(prefix, f'q={q}', paper=True)
    d = diff(path, ldr(SETS[prefix][1]))
    assert paper_stage1_of(path) == SETS[prefix][0]
    assert d == {'model.head.loss.q': (q, 0.8)}


@pytest.mark.parametrize('bench', ['demo', 'mnistlt'])
def test_recipe_check_presets_vary_one_choice_each(bench):
    """`<bench>-recipe-check` (the pretrained regime, docs/recipe.md): the
    recommended LDR, the strongest baselines and one row per re-checked
    choice of the recipe, each a config that exists and differs from the
    recommended one in that choice."""
    specs = PRESETS[f'{bench}-recipe-check']
    rows = [run_name(c) for c in specs]
    s1, s2 = f'ldr_r18_{bench}_stage1', f'ldr_r18_{bench}_stage2'
    assert {f'dbloss_r18_{bench}', f'csra_r18_{bench}', s1, s2,
            f'{s2}_csra'} <= set(rows)
    cfgs = {run_name(c): load_config(osp.join(REPO, c)) for c in specs}
    rec = cfgs[s1]
    assert rec.model.neck.gap_residual == 'concat'
    assert cfgs[f'{s1}_nogap'].model.neck.gap_residual is False
    assert cfgs[f'{s2}_nogap'].model.neck.gap_residual is False
    assert cfgs[f'{s1}_nogap'].model.head.loss.type == \
        rec.model.head.loss.type
    assert stage1_config_of(osp.join(REPO, specs[rows.index(
        f'{s2}_nogap')]), cfgs[f'{s2}_nogap']).endswith(f'{s1}_nogap.py')
    assert cfgs[f'{s1}_bce'].model.head.loss.type == 'CrossEntropyLoss'
    assert cfgs[f'{s2}@blend=1.0'].train_cfg.m_solver.blend == 1.0
    assert cfgs[f'{s2}@e_lr=0.0'].optim_wrapper.optimizer.lr == 0.0
