# LDRNet stage 2 (Gaussian label-distribution reconstruction + EM
# fine-tuning) on CheXpert, ResNet-50. Fine-tunes the stage-1 model:
#   python tools/train.py configs/ldrnet/ldr_r50_chexpert_stage2.py \
#       --cfg-options model.stage1_checkpoint=work_dirs/ldr_r50_chexpert_stage1/best_*.pth
# The paper gives no round or iteration counts; ours: docs/stage2.md.
# Same counts as NIH. The E-step loss honours the U-Ignore masks; the
# statistics pass leaves a masked label out of that class's Gaussians.
_base_ = ['./ldr_r50_chexpert_stage1.py', '../_base_/stage2/ldr_em.py']

rounds = 5  # EM rounds (statistics -> M-step -> E-step)
e_iters = 500  # E-step iterations (real batches of 32) per round

model = dict(
    **_base_.ldr_stage2_model,
    stage1_checkpoint='work_dirs/ldr_r50_chexpert_stage1/epoch_30.pth')
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []
# M-step: 500 iterations x 256 virtual samples per round
train_cfg = dict(
    _base_.ldr_stage2_train_cfg, rounds=rounds, e_iters=e_iters,
    m_iters=500)
log_processor = dict(by_epoch=False)
# validation metrics logged at their iteration (MMEngine logs them at the
# epoch, always 0 in an iteration loop, by default)
default_hooks = dict(
    logger=dict(log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=e_iters))
custom_hooks = _base_.custom_hooks + [dict(type='GaussianReconstructionHook')]
