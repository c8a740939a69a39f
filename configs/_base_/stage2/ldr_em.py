# Stage-2 (Gaussian reconstruction + EM) pieces shared by the medical stage-2
# configs. New names only, so it can sit beside a stage-1 config in _base_:
#   _base_ = ['./ldr_r50_nih_stage1.py', '../_base_/stage2/ldr_em.py']
# and the config combines them with its own round / iteration counts.
# Paper: reverse sampling alpha 0.9, eps 1e-9; GCE q 0.8; Adam 1e-4.

# model overrides: the stage-2 classifier, GCE for the E-step
ldr_stage2_model = dict(
    type='LDRStage2Classifier',
    head=dict(loss=dict(_delete_=True, type='MultiLabelGCELoss', q=0.8)))

# E-step optimiser (backbone + neck; the head is frozen): Adam, a tenth of
# the paper's 1e-4 since it fine-tunes an already trained encoder.
ldr_stage2_optim_wrapper = dict(optimizer=dict(lr=1e-5))

ldr_stage2_hook = dict(
    type='GaussianReconstructionHook',
    virtual_batch_size=256,
    sampler=dict(type='ReverseSampler', mode='reverse', alpha=0.9, eps=1e-9),
    cov_type='full',
    # C x 2 x D x D float64 statistics are ~1 GB at D=2048: keep them in
    # work_dir/reconstruction/ only (resume does not need them)
    stats_in_checkpoint=False,
    # M-step optimiser (classifier only) at the paper's Adam 1e-4
    m_optim_wrapper=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-5)))
