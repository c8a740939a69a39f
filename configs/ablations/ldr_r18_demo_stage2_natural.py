# Ablation (Table 6 companion): virtual labels drawn at the classes' natural
# training frequency, p_c = F_c / N (no re-balancing at all).
# Everything else as configs/ldrnet/ldr_r18_demo_stage2.py; the stage-1 model
# is the ordinary demo stage 1.
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'

train_cfg = dict(sampler=dict(mode='natural'))
