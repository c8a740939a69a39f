# Ablation (paper Table 5, row "BlueBERT", on AxSpA; both stages, as the paper
# trains every row): stage 2 fine-tunes ldr_r50_spa_stage1_bluebert.py (which
# tools/benchmark_suite.py trains first, via `stage1_config`) with the same
# prompt cache; everything else as configs/ldrnet/ldr_r50_spa_stage2_paper.py.
_base_ = '../ldrnet/ldr_r50_spa_stage2_paper.py'

stage1_config = './ldr_r50_spa_stage1_bluebert.py'
model = dict(
    stage1_checkpoint='work_dirs/ldr_r50_spa_stage1_bluebert/epoch_30.pth',
    neck=dict(prompt_cache='data/prompts/axspa_bluebert.pth'))
