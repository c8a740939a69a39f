# Ablation (paper Table 6): uniform instead of reverse sampling in stage 2:
# p_c = 1 / C for every class (Eq. 12 with alpha = 0).
# Everything else as configs/ldrnet/ldr_r18_demo_stage2_paper.py (the
# paper's settings); the stage-1 model is the paper's demo stage 1.
_base_ = '../ldrnet/ldr_r18_demo_stage2_paper.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1_paper.py'  # tools/benchmark_suite.py

train_cfg = dict(sampler=dict(mode='uniform'))
