"""What the benchmark suite compares: named config sets and table columns.

Data only. Paths are relative to the repository root (:data:`REPO`). The
baseline rows are whatever ``configs/baselines/`` holds for a benchmark;
the ablation presets list the files ``configs/ablations/<prefix>_*.py``
(structural ablations) and the parameter ablations: a base config with
values (``CONFIG.py@NAME=VALUE``, :mod:`.variants`).
"""
import glob
import os.path as osp
from typing import Dict, List

#: The repository checkout: the suite's configs/ and tools/, where it runs.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Attention-head baselines (no neck; each with the loss chosen for it on
#: validation, docs/baselines.md): MMPretrain's CSRAClsHead, ldr_mm's
#: Query2LabelHead. The other baselines are the losses: one config a loss
#: (``configs/baselines/<loss>_<backbone>_<benchmark>.py``).
ATTENTION_HEADS = ('csra', 'q2l')


def baselines(stem: str) -> List[str]:
    """Every baseline config of a benchmark (``configs/baselines/
    *_<stem>.py``: the losses and the attention heads), sorted."""
    found = glob.glob(osp.join(REPO, 'configs', 'baselines', f'*_{stem}.py'))
    return [osp.relpath(p, REPO) for p in sorted(found)]


def _r18(bench: str) -> Dict[str, List[str]]:
    """Baselines and LDR configs of a built-in benchmark (demo, mnistlt):
    its baseline configs (losses and attention heads); LDR as the paper
    describes it (stage 1 / 2); the recommended LDR (stage 1 / 2); the
    one-stage LDR (online reconstruction); LDR stage 2 on the CSRA and on
    the Query2Label baseline; the train-longer control."""
    ldr = f'configs/ldrnet/ldr_r18_{bench}'
    return dict(
        baselines=baselines(f'r18_{bench}'),
        ldr=[f'{ldr}_stage1_paper.py', f'{ldr}_stage2_paper.py',
             f'{ldr}_stage1.py', f'{ldr}_stage2.py', f'{ldr}_online.py',
             f'{ldr}_stage2_csra.py', f'{ldr}_stage2_q2l.py',
             f'{ldr}_stage1_longer.py'])


DEMO_BASELINES = _r18('demo')['baselines']
DEMO_LDR = _r18('demo')['ldr']

#: The strongest baseline of the suite on the demo (validation mAP, 3
#: seeds, docs/results_demo.md; the attention heads included): the row
#: `make demo` prints beside the recommended LDR stage 1 and 2 (preset
#: ``make-demo``).
DEMO_BASELINE = 'configs/baselines/csra_r18_demo.py'


#: Parameter ablations of the paper's stage 2 (Table 6, Fig. 3a / 3b),
#: values of ``configs/ldrnet/<prefix>_stage2_paper.py``.
PAPER_SWEEPS = {
    'alpha': ['alpha=0.1', 'alpha=0.3', 'alpha=0.5', 'alpha=0.7', 'alpha=1.0'],
    'sampler': ['sampler=uniform', 'sampler=natural'],
    'q': ['q=0.2', 'q=0.4', 'q=0.6', 'q=1.0'],
}
#: Parameter ablations of the recommended stage 2 (docs/recipe.md): the
#: E-step's learning rate and iterations, the LDA head alone, the classical
#: pooled LDA; values of ``configs/ldrnet/<prefix>_stage2.py``.
RECIPE_SWEEPS = {
    'estep': ['e_lr=0.0', 'e_lr=1e-4', 'e_iters=30'],
    'mstep': ['blend=1.0', 'shrinkage=pooled,pooling=weighted'],
}


def recipe_check(bench: str) -> List[str]:
    """The recommended recipe's choices, to re-check in another regime
    (``--pretrained`` / ``--lr``: the pretrained regime, docs/recipe.md):
    the strongest baselines (DB loss, CSRA), the recommended LDR (stage 1,
    2), its stage-1 loss (the paper's BCE instead of DB), its neck (without
    the pooled feature, as in the paper, instead of appended to it; with
    its stage 2), its M-step (the LDA head alone instead of the blend), its E-step (the
    encoder frozen), and LDR stage 2 on CSRA."""
    ldr = f'configs/ldrnet/ldr_r18_{bench}'
    abl = f'configs/ablations/ldr_r18_{bench}'
    return [
        f'configs/baselines/dbloss_r18_{bench}.py',
        f'configs/baselines/csra_r18_{bench}.py', f'{ldr}_stage1.py',
        f'{ldr}_stage2.py', f'{abl}_stage1_bce.py',
        f'{abl}_stage1_nogap.py', f'{abl}_stage2_nogap.py',
        f'{ldr}_stage2.py@blend=1.0', f'{ldr}_stage2.py@e_lr=0.0',
        f'{ldr}_stage2_csra.py'
    ]


def sweep(config: str, values: List[str]) -> List[str]:
    """``config`` with each of ``values``: ``['c.py@alpha=0.1', ...]``."""
    return [f'{config}@{v}' for v in values]


def paper_sweeps(prefix: str) -> List[str]:
    """Every :data:`PAPER_SWEEPS` point of a benchmark's paper stage 2."""
    return [s for v in PAPER_SWEEPS.values() for s in sweep(
        f'configs/ldrnet/{prefix}_stage2_paper.py', v)]


def recipe_sweeps(prefix: str) -> List[str]:
    """Every :data:`RECIPE_SWEEPS` point of a benchmark's stage 2."""
    return [s for v in RECIPE_SWEEPS.values() for s in sweep(
        f'configs/ldrnet/{prefix}_stage2.py', v)]


def ablations(prefix: str) -> List[str]:
    """The ablation configs ``configs/ablations/<prefix>_*.py``, sorted."""
    found = glob.glob(osp.join(REPO, 'configs', 'ablations', f'{prefix}_*.py'))
    return [osp.relpath(p, REPO) for p in sorted(found)]


def _build_presets() -> Dict[str, List[str]]:
    demo_sweeps = paper_sweeps('ldr_r18_demo') + recipe_sweeps(
        'ldr_r18_demo') + ['configs/ldrnet/ldr_r18_demo_stage2.py@views=4']
    presets = {
        'demo-baselines': DEMO_BASELINES,
        'demo': DEMO_BASELINES + DEMO_LDR,
        'all-demo': DEMO_BASELINES + DEMO_LDR + ablations('ldr_r18_demo')
        + demo_sweeps,
        # the parameter ablations alone (LDR's runs they chain to included)
        'demo-sweeps': demo_sweeps,
        # `make demo` (tools/run_demo.py): baseline, LDR stage 1, 2, LDR
        # stage 2 on the CSRA baseline (chained to csra_r18_demo's run)
        'make-demo': [DEMO_BASELINE, 'configs/ldrnet/ldr_r18_demo_stage1.py',
                      'configs/ldrnet/ldr_r18_demo_stage2.py',
                      'configs/ldrnet/ldr_r18_demo_stage2_csra.py'],
        'mnistlt-baselines': _r18('mnistlt')['baselines'],
        'mnistlt': _r18('mnistlt')['baselines'] + _r18('mnistlt')['ldr'],
        'all-mnistlt': _r18('mnistlt')['baselines'] + _r18('mnistlt')['ldr']
        + ablations('ldr_r18_mnistlt') + recipe_sweeps('ldr_r18_mnistlt'),
        'mnistlt-sweeps': recipe_sweeps('ldr_r18_mnistlt'),
        'demo-recipe-check': recipe_check('demo'),
        'mnistlt-recipe-check': recipe_check('mnistlt'),
    }
    for ds in ('nih', 'odir', 'spa'):
        presets[f'{ds}-baselines'] = baselines(f'r50_{ds}')
        presets[ds] = presets[f'{ds}-baselines'] + [
            f'configs/ldrnet/ldr_r50_{ds}_stage1.py',
            f'configs/ldrnet/ldr_r50_{ds}_stage2.py'
        ]
    # The paper's ablations (Tables 4-6, Fig. 3) are on AxSpA.
    presets['all-spa'] = presets['spa'] + ablations('ldr_r50_spa') + \
        paper_sweeps('ldr_r50_spa')
    presets['spa-sweeps'] = paper_sweeps('ldr_r50_spa')
    return presets


#: Named config sets (paths relative to :data:`REPO`).
PRESETS = _build_presets()

#: ``--reference`` value that compares every config with the strongest
#: baseline (loss or attention head): the baseline config with the best mean
#: validation value of :data:`BEST_BASELINE_METRIC` over its seeds (chosen on
#: validation, never on the test split).
BEST_BASELINE = 'best-baseline'
BEST_BASELINE_METRIC = 'mAP/mean'

#: Columns of the results table: (metric key of tools/test.py, header).
COLUMNS = [
    ('auc/mean', 'AUC all'), ('auc/head', 'AUC head'),
    ('auc/tail', 'AUC tail'), ('mAP/mean', 'mAP all'),
    ('mAP/head', 'mAP head'), ('mAP/tail', 'mAP tail'),
    ('mACC/mean', 'mACC'), ('bACC/mean', 'bACC'),
]
#: Metrics the test evaluator must have for the table.
TABLE_METRICS = ('MultiLabelAUC', 'MultiLabelAP', 'MultiLabelAccuracy',
                 'MultiLabelBalancedAccuracy')
#: Columns with a paired-bootstrap interval against the reference config
#: (the ranking metrics; recomputed from the per-image score files).
BOOTSTRAP_COLUMNS = COLUMNS[:6]
#: Smoke mode: demo split sizes and image side.
SMOKE_SPLITS = dict(train=24, val=16, test=16)
SMOKE_SIZE = 32
