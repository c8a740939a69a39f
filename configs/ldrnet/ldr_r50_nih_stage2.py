# LDRNet stage 2 (Gaussian label-distribution reconstruction + EM
# fine-tuning) on NIH ChestX-ray14, ResNet-50. Fine-tunes the stage-1 model:
#   python tools/train.py configs/ldrnet/ldr_r50_nih_stage2.py \
#       --cfg-options model.stage1_checkpoint=work_dirs/ldr_r50_nih_stage1/best_*.pth
# Paper settings: reverse sampling alpha 0.9, eps 1e-9; GCE q 0.8; Adam 1e-4.
# The paper gives no round or iteration counts; ours are in docs/stage2.md.
_base_ = './ldr_r50_nih_stage1.py'

rounds = 5  # EM rounds (statistics -> M-step -> E-step)
e_iters = 500  # E-step iterations (real batches of 32) per round
m_iters = 500  # M-step iterations (virtual batches of 256) per round

model = dict(
    type='LDRStage2Classifier',
    stage1_checkpoint='work_dirs/ldr_r50_nih_stage1/epoch_30.pth',
    # E-step loss: multi-label GCE through the frozen classifier
    head=dict(loss=dict(_delete_=True, type='MultiLabelGCELoss', q=0.8)))

# E-step optimiser (backbone + neck; the head is frozen): Adam, a tenth of
# the paper's 1e-4 since it fine-tunes an already trained encoder. The
# M-step optimiser (classifier) is the hook's, at the paper's 1e-4.
optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = []
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=rounds * e_iters,
    val_interval=e_iters)
log_processor = dict(by_epoch=False)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=e_iters))

custom_hooks = _base_.custom_hooks + [
    dict(
        type='GaussianReconstructionHook',
        e_iters=e_iters,
        m_iters=m_iters,
        virtual_batch_size=256,
        sampler=dict(type='ReverseSampler', mode='reverse', alpha=0.9,
                     eps=1e-9),
        cov_type='full',
        # C x 2 x D x D float64 statistics are ~1 GB at D=2048: keep them in
        # work_dir/reconstruction/ only (resume does not need them)
        stats_in_checkpoint=False,
        m_optim_wrapper=dict(
            type='OptimWrapper',
            optimizer=dict(
                type='Adam', lr=1e-4, betas=(0.9, 0.999),
                weight_decay=1e-5))),
]
