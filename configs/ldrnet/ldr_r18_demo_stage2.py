# LDRNet stage 2 (Gaussian label-distribution reconstruction + EM
# fine-tuning) on the built-in demo dataset. Fine-tunes the stage-1 demo
# model; point it at another stage-1 checkpoint with
#   --cfg-options model.stage1_checkpoint=PATH
# Every stage-2 option is a train_cfg key (ldr_mm/engine/runners/
# em_train_loop.py), e.g. --cfg-options train_cfg.m_solver=lda
# train_cfg.sampler.alpha=0.3. Design notes: docs/stage2.md.
_base_ = ['./ldr_r18_demo_stage1.py', '../_base_/stage2/ldr_em.py']

rounds = 3  # EM rounds (statistics -> M-step -> E-step)
e_iters = 10  # E-step iterations (real batches of 32) per round

model = dict(
    **_base_.ldr_stage2_model,
    stage1_checkpoint='work_dirs/ldr_r18_demo_stage1/epoch_12.pth')
# E-step optimiser (backbone + neck; the head is frozen): Adam at the final
# learning rate of the stage-1 demo schedule (1e-4 visibly hurt the demo
# model, see docs/stage2.md).
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []  # constant learning rates
train_cfg = dict(
    _base_.ldr_stage2_train_cfg,
    rounds=rounds,
    e_iters=e_iters,
    m_iters=200,  # M-step iterations (virtual batches of 256) per round
    # the demo's statistics are small (C=10): keep them in checkpoints
    stats_in_checkpoint=True,
    # M-step Adam at 1e-3 (the classifier alone, 'sgd' solver)
    m_optim_wrapper=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-5)))
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(interval=5, log_metric_by_epoch=False),  # val at its iter
    checkpoint=dict(by_epoch=False, interval=e_iters))
# the stage-1 hooks (class check, exact RNG stream, finite loss) + stage 2
custom_hooks = _base_.custom_hooks + [dict(type='GaussianReconstructionHook')]
