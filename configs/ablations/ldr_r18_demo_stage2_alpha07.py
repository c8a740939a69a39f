# Ablation (paper Fig. 3a): the smoothing exponent of reverse sampling
# (Eq. 12), alpha = 0.7 instead of 0.9.
# Everything else as configs/ldrnet/ldr_r18_demo_stage2_paper.py (the
# paper's settings); the stage-1 model is the paper's demo stage 1.
_base_ = '../ldrnet/ldr_r18_demo_stage2_paper.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1_paper.py'  # tools/benchmark_suite.py

train_cfg = dict(sampler=dict(alpha=0.7))
