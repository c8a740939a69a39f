# LDR stage 2 (Gaussian reconstruction + EM, the recommended M-step: LDA
# blended with the stage-1 head) on a CSRA stage 1
# (configs/baselines/csra_r18_demo.py): CSRA's class-specific attention
# becomes the class-aware feature neck, its classifier the group-wise head
# that the M-step refits (CSRAStage2Classifier; docs/baselines.md, "Where
# LDR's gain comes from"). Round 0 is exactly the CSRA model. Point it at
# another CSRA checkpoint with --cfg-options model.stage1_checkpoint=PATH.
_base_ = ['../baselines/csra_r18_demo.py', '../_base_/stage2/ldr_em.py']
rounds, e_iters = 3, 10  # as configs/ldrnet/ldr_r18_demo_stage2.py
model = dict(_base_.ldr_stage2_model, type='CSRAStage2Classifier', stage1_checkpoint='work_dirs/csra_r18_demo/epoch_12.pth')
train_cfg = dict(_base_.ldr_stage2_demo_train_cfg, rounds=rounds, e_iters=e_iters, m_iters=200)
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []
default_hooks = _base_.ldr_stage2_demo_hooks
