# LDR stage 2 (Gaussian reconstruction + EM, LDA-blend M-step) on a CSRA
# stage 1 (configs/baselines/csra_r50_mimic.py): the recipe of
# ldr_r18_demo_stage2_csra.py with the counts and optimiser of
# ldr_r50_mimic_stage2.py. Class features: 'concat', 4096-d (memory and the
# unmeasured choice: csra_stage2_model in configs/_base_/stage2/ldr_em.py).
# U-Ignore masks: the E-step loss (LDRHead) and the statistics pass leave a
# masked label out, as in ldr_r50_mimic_stage2.py.
#   python tools/train.py configs/baselines/csra_r50_mimic.py
#   python tools/train.py configs/ldrnet/ldr_r50_mimic_stage2_csra.py \
#       --cfg-options model.stage1_checkpoint=work_dirs/csra_r50_mimic/best_*.pth
_base_ = ['../baselines/csra_r50_mimic.py', '../_base_/stage2/ldr_em.py']
rounds, e_iters = 5, 500  # as ldr_r50_mimic_stage2.py
model = dict(**_base_.csra_stage2_model, stage1_checkpoint='work_dirs/csra_r50_mimic/epoch_30.pth')
train_cfg = dict(_base_.ldr_stage2_train_cfg, rounds=rounds, e_iters=e_iters, m_iters=500)
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []
