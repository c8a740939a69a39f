"""What the benchmark suite compares: named config sets and table columns.

Data only. Paths are relative to the repository root (:data:`REPO`); the
ablation presets list whatever ``configs/ablations/<prefix>_*.py`` holds.
"""
import glob
import os.path as osp
from typing import Dict, List

#: The repository checkout the suite runs from (configs/ and tools/ live
#: there; the suite needs an editable install or a source checkout).
REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

LOSSES = ('bce', 'focal', 'asl', 'twoway', 'ral', 'dbloss')
DEMO_BASELINES = [f'configs/baselines/{loss}_r18_demo.py' for loss in LOSSES]
DEMO_LDR = [
    'configs/ldrnet/ldr_r18_demo_stage1.py',
    'configs/ldrnet/ldr_r18_demo_stage2.py',
]


def ablations(prefix: str) -> List[str]:
    """The ablation configs ``configs/ablations/<prefix>_*.py``, sorted."""
    found = glob.glob(osp.join(REPO, 'configs', 'ablations', f'{prefix}_*.py'))
    return [osp.relpath(p, REPO) for p in sorted(found)]


def _build_presets() -> Dict[str, List[str]]:
    presets = {
        'demo-baselines': DEMO_BASELINES,
        'demo': DEMO_BASELINES + DEMO_LDR,
        'all-demo': DEMO_BASELINES + DEMO_LDR + ablations('ldr_r18_demo'),
    }
    for ds in ('nih', 'odir', 'spa'):
        presets[f'{ds}-baselines'] = [
            f'configs/baselines/{loss}_r50_{ds}.py' for loss in LOSSES
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
