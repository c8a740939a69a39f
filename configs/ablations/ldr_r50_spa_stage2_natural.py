# Ablation (Table 6 companion, on AxSpA): virtual labels drawn at the
# classes' natural training frequency, p_c = F_c / N.
# Everything else as configs/ldrnet/ldr_r50_spa_stage2.py; the stage-1 model
# is the ordinary AxSpA stage 1.
_base_ = '../ldrnet/ldr_r50_spa_stage2.py'

train_cfg = dict(sampler=dict(mode='natural'))
