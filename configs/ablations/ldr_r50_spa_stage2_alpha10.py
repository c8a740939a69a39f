# Ablation (paper Fig. 3a, on AxSpA): the smoothing exponent of reverse
# sampling (Eq. 12), alpha = 1.0 instead of 0.9.
# Everything else as configs/ldrnet/ldr_r50_spa_stage2_paper.py (the
# paper's settings); the stage-1 model is the paper's AxSpA stage 1.
_base_ = '../ldrnet/ldr_r50_spa_stage2_paper.py'
stage1_config = '../ldrnet/ldr_r50_spa_stage1_paper.py'  # tools/benchmark_suite.py

train_cfg = dict(sampler=dict(alpha=1.0))
