# LDRNet stage 2 (Gaussian label-distribution reconstruction + EM
# fine-tuning) on NIH ChestX-ray14, ResNet-50. Fine-tunes the stage-1 model:
#   python tools/train.py configs/ldrnet/ldr_r50_nih_stage2.py \
#       --cfg-options model.stage1_checkpoint=work_dirs/ldr_r50_nih_stage1/best_*.pth
# The paper gives no round or iteration counts; ours: docs/stage2.md.
# 5 EM rounds (statistics -> M-step -> E-step) of 500 E-step iterations
# (real batches of 32) and 500 M-step iterations x 256 virtual samples;
# shared pieces: configs/_base_/stage2/ldr_em.py.
_base_ = ['./ldr_r50_nih_stage1.py', '../_base_/stage2/ldr_em.py']
rounds, e_iters = 5, 500  # EM rounds, E-step iterations per round
model = dict(**_base_.ldr_stage2_model, stage1_checkpoint='work_dirs/ldr_r50_nih_stage1/epoch_30.pth')
train_cfg = dict(_base_.ldr_stage2_train_cfg, rounds=rounds, e_iters=e_iters, m_iters=500)
optim_wrapper = _base_.ldr_stage2_optim_wrapper
param_scheduler = []
