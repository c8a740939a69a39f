# LDRNet stage 2 (Gaussian label-distribution reconstruction + EM
# fine-tuning) on the built-in demo dataset. Fine-tunes the stage-1 demo
# model; point it at another stage-1 checkpoint with
#   --cfg-options model.stage1_checkpoint=PATH
# Design notes: docs/stage2.md.
_base_ = './ldr_r18_demo_stage1.py'

rounds = 3  # EM rounds (statistics -> M-step -> E-step)
e_iters = 10  # E-step iterations (real batches of 32) per round
m_iters = 200  # M-step iterations (virtual batches of 256) per round

model = dict(
    type='LDRStage2Classifier',
    stage1_checkpoint='work_dirs/ldr_r18_demo_stage1/epoch_12.pth',
    # E-step loss: multi-label GCE through the frozen classifier
    head=dict(loss=dict(_delete_=True, type='MultiLabelGCELoss', q=0.8)))

# E-step optimiser (backbone + neck; the head is frozen): Adam at the final
# learning rate of the stage-1 demo schedule (1e-4 visibly hurt the demo
# model, see docs/stage2.md). M-step optimiser: the hook's m_optim_wrapper.
optim_wrapper = dict(optimizer=dict(lr=1e-5))
param_scheduler = []  # constant learning rates
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=rounds * e_iters,
    val_interval=e_iters)
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(interval=5, log_metric_by_epoch=False),  # val at its iter
    checkpoint=dict(by_epoch=False, interval=e_iters))

# the stage-1 hooks (class check, exact RNG stream, finite loss) + stage 2
custom_hooks = _base_.custom_hooks + [
    dict(
        type='GaussianReconstructionHook',
        e_iters=e_iters,
        m_iters=m_iters,
        virtual_batch_size=256,
        sampler=dict(type='ReverseSampler', mode='reverse', alpha=0.9,
                     eps=1e-9),
        cov_type='full',
        m_optim_wrapper=dict(
            type='OptimWrapper',
            optimizer=dict(
                type='Adam', lr=1e-3, betas=(0.9, 0.999),
                weight_decay=1e-5))),
]
