# Ablation (Table 6 companion, on AxSpA): virtual labels drawn at the
# classes' natural training frequency, p_c = F_c / N.
# Everything else as configs/ldrnet/ldr_r50_spa_stage2_paper.py (the
# paper's settings); the stage-1 model is the paper's AxSpA stage 1.
_base_ = '../ldrnet/ldr_r50_spa_stage2_paper.py'
stage1_config = '../ldrnet/ldr_r50_spa_stage1_paper.py'  # tools/benchmark_suite.py

train_cfg = dict(sampler=dict(mode='natural'))
