# LDRNet stage 2 (Gaussian label-distribution reconstruction + EM
# fine-tuning) on the built-in demo dataset. Fine-tunes the stage-1 demo
# model; point it at another stage-1 checkpoint with
#   --cfg-options model.stage1_checkpoint=PATH
# Every stage-2 option is a train_cfg key (ldr_mm/engine/runners/
# em_train_loop.py), e.g. --cfg-options train_cfg.m_solver=lda
# train_cfg.sampler.alpha=0.3. Design notes: docs/stage2.md.
# E-step optimiser (backbone + neck; the head is frozen): Adam at the final
# learning rate of the stage-1 demo schedule (1e-4 visibly hurt the demo
# model, see docs/stage2.md), constant. Shared pieces and the demo's
# statistics / M-step settings: configs/_base_/stage2/ldr_em.py.
_base_ = ['./ldr_r18_demo_stage1.py', '../_base_/stage2/ldr_em.py']
rounds, e_iters = 3, 10  # EM rounds, E-step iterations per round
model = dict(**_base_.ldr_stage2_model, stage1_checkpoint='work_dirs/ldr_r18_demo_stage1/epoch_12.pth')
train_cfg = dict(_base_.ldr_stage2_demo_train_cfg, rounds=rounds, e_iters=e_iters, m_iters=200)
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []
default_hooks = _base_.ldr_stage2_demo_hooks
