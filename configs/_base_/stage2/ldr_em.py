# Stage-2 (Gaussian reconstruction + EM) pieces shared by the stage-2
# configs. New names only, so it can sit beside a stage-1 config in _base_:
#   _base_ = ['./ldr_r50_nih_stage1.py', '../_base_/stage2/ldr_em.py']
# and the config combines them with its own round / iteration counts:
#   train_cfg = dict(**_base_.ldr_stage2_train_cfg, rounds=5, e_iters=500,
#                    m_iters=500)
# Every option is then a --cfg-options key, e.g.
#   train_cfg.sampler.alpha=0.3  train_cfg.m_solver=lda  train_cfg.rounds=2
# Paper: reverse sampling alpha 0.9, eps 1e-9; GCE q 0.8; Adam 1e-4.

# model overrides: the stage-2 classifier, GCE for the E-step
ldr_stage2_model = dict(
    type='LDRStage2Classifier',
    head=dict(loss=dict(_delete_=True, type='MultiLabelGCELoss', q=0.8)))

# E-step optimiser (backbone + neck; the head is frozen): Adam, a tenth of
# the paper's 1e-4 since it fine-tunes an already trained encoder.
ldr_stage2_optim_wrapper = dict(optimizer=dict(lr=1e-5))

# The EM loop (ldr_mm/engine/runners/em_train_loop.py) without its counts;
# it derives max_iters = rounds * e_iters and val_interval = e_iters.
ldr_stage2_train_cfg = dict(
    _delete_=True,
    type='EMTrainLoop',
    virtual_batch_size=256,
    # M-step solver: 'lda' (closed form, recommended: docs/stage2.md) blended
    # half and half with the stage-1 head (blend=0.5, docs/recipe.md; the LDA
    # head alone, blend=1, is configs/ablations/*_stage2_lda.py), 'lbfgs'
    # (BCE on virtual features to convergence) or 'sgd' (m_iters Adam steps,
    # the paper's text and the *_paper.py configs' choice)
    m_solver=dict(type='lda', blend=0.5),
    sampler=dict(type='ReverseSampler', mode='reverse', alpha=0.9, eps=1e-9),
    cov_type='full',
    # tail calibration of the positive Gaussians (docs/stage2.md), e.g.
    # dict(k=2, max_n=None, min_donor_n=None, alpha=0.0, shift_mean=False)
    calibration=None,
    # C x 2 x D x D float64 statistics are ~1 GB at D=2048: keep them in
    # work_dir/reconstruction/ only (resume does not need them)
    stats_in_checkpoint=False,
    # validate the stage-1 model before round 1: candidate 0 for save_best
    val_stage1=True,
    # M-step optimiser (classifier only, 'sgd') at the paper's Adam 1e-4
    m_optim_wrapper=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-5)))
