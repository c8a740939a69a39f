# Ablation (paper Table 6): uniform instead of reverse sampling in stage 2:
# p_c = 1 / C for every class (Eq. 12 with alpha = 0).
# Everything else as configs/ldrnet/ldr_r18_demo_stage2.py; the stage-1 model
# is the ordinary demo stage 1.
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'

train_cfg = dict(sampler=dict(mode='uniform'))
