# LDR stage 2 (Gaussian reconstruction + EM, the recommended M-step: LDA
# blended with the stage-1 head) on a Query2Label-style stage 1
# (configs/baselines/q2l_r18_demo.py): the label-query decoder becomes the
# class-aware feature neck, the group-wise linear layer the head that the
# M-step refits (Query2LabelStage2Classifier; docs/stage2.md, "On a
# Query2Label stage 1"). Round 0 is exactly the Query2Label model. Point it
# at another Query2Label checkpoint with
# --cfg-options model.stage1_checkpoint=PATH.
_base_ = ['../baselines/q2l_r18_demo.py', '../_base_/stage2/ldr_em.py']
rounds, e_iters = 3, 10  # as configs/ldrnet/ldr_r18_demo_stage2.py
model = dict(_base_.ldr_stage2_model, type='Query2LabelStage2Classifier', stage1_checkpoint='work_dirs/q2l_r18_demo/epoch_12.pth')
train_cfg = dict(_base_.ldr_stage2_demo_train_cfg, rounds=rounds, e_iters=e_iters, m_iters=200)
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []
default_hooks = _base_.ldr_stage2_demo_hooks
