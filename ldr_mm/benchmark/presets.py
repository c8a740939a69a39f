"""What the benchmark suite compares: named config sets and table columns.

Data only. Paths are relative to the repository root (:data:`REPO`); the
ablation presets list whatever ``configs/ablations/<prefix>_*.py`` holds.
"""
import glob
import os.path as osp
from typing import Dict, List

from ..utils.project_files import project_root

#: Where the suite's configs/ and tools/ live and where it runs: the
#: repository checkout, or ``ldr_mm/.mim`` of an installed wheel.
REPO = project_root()

LOSSES = ('bce', 'focal', 'asl', 'twoway', 'ral', 'dbloss')
#: Attention-head baselines (no neck; each with the loss chosen for it on
#: validation, docs/baselines.md): MMPretrain's CSRAClsHead, ldr_mm's
#: Query2LabelHead.
ATTENTION_HEADS = ('csra', 'q2l')
BASELINES = LOSSES + ATTENTION_HEADS


def _r18(bench: str) -> Dict[str, List[str]]:
    """Baselines and LDR configs of a built-in benchmark (demo, mnistlt):
    the six loss baselines and the attention heads; LDR as the paper
    describes it (stage 1 / 2); the recommended LDR (stage 1 / 2); the
    train-longer control."""
    ldr = f'configs/ldrnet/ldr_r18_{bench}'
    return dict(
        baselines=[f'configs/baselines/{name}_r18_{bench}.py'
                   for name in BASELINES],
        ldr=[f'{ldr}_stage1_paper.py', f'{ldr}_stage2_paper.py',
             f'{ldr}_stage1.py', f'{ldr}_stage2.py',
             f'{ldr}_stage1_longer.py'])


DEMO_BASELINES = _r18('demo')['baselines']
DEMO_LDR = _r18('demo')['ldr']

#: The strongest baseline of the suite on the demo (validation mAP, 3
#: seeds, docs/results_demo.md; the attention heads included): the row
#: `make demo` prints beside the recommended LDR stage 1 and 2 (preset
#: ``make-demo``).
DEMO_BASELINE = 'configs/baselines/csra_r18_demo.py'


def ablations(prefix: str) -> List[str]:
    """The ablation configs ``configs/ablations/<prefix>_*.py``, sorted."""
    found = glob.glob(osp.join(REPO, 'configs', 'ablations', f'{prefix}_*.py'))
    return [osp.relpath(p, REPO) for p in sorted(found)]


def _build_presets() -> Dict[str, List[str]]:
    presets = {
        'demo-baselines': DEMO_BASELINES,
        'demo': DEMO_BASELINES + DEMO_LDR,
        'all-demo': DEMO_BASELINES + DEMO_LDR + ablations('ldr_r18_demo'),
        # `make demo` (tools/misc/run_demo.py): baseline, LDR stage 1, 2
        'make-demo': [DEMO_BASELINE, 'configs/ldrnet/ldr_r18_demo_stage1.py',
                      'configs/ldrnet/ldr_r18_demo_stage2.py'],
        'mnistlt-baselines': _r18('mnistlt')['baselines'],
        'mnistlt': _r18('mnistlt')['baselines'] + _r18('mnistlt')['ldr'],
        'all-mnistlt': _r18('mnistlt')['baselines'] + _r18('mnistlt')['ldr']
        + ablations('ldr_r18_mnistlt'),
    }
    for ds in ('nih', 'odir', 'spa'):
        presets[f'{ds}-baselines'] = [
            f'configs/baselines/{name}_r50_{ds}.py' for name in BASELINES
        ]
        presets[ds] = presets[f'{ds}-baselines'] + [
            f'configs/ldrnet/ldr_r50_{ds}_stage1.py',
            f'configs/ldrnet/ldr_r50_{ds}_stage2.py'
        ]
    # The paper's ablations (Tables 4-6, Fig. 3) are on AxSpA.
    presets['all-spa'] = presets['spa'] + ablations('ldr_r50_spa')
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
