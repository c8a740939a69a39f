# Stage-2 (Gaussian reconstruction + EM) pieces shared by the stage-2
# configs. New names (and log_processor, which no stage-1 config sets), so it
# can sit beside a stage-1 config in _base_ (MMEngine refuses a key that two
# bases both set, so a leaf assigns each stage-1 key it changes, one line
# each, with its own round / iteration counts and stage-1 checkpoint):
#   _base_ = ['./ldr_r50_nih_stage1.py', '../_base_/stage2/ldr_em.py']
#   rounds, e_iters = 5, 500
#   model = dict(**_base_.ldr_stage2_model, stage1_checkpoint='...')
#   train_cfg = dict(_base_.ldr_stage2_train_cfg, rounds=rounds, e_iters=e_iters, m_iters=500)
#   optim_wrapper = _base_.ldr_stage2_optim_wrapper
#   param_scheduler = []  # constant learning rate
# The loop sets up the rest: it registers GaussianReconstructionHook (the
# rounds in checkpoints), checkpoints every round (the stage-1 epoch-based
# checkpoint interval counts rounds) and logs by iteration.
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
    # M-step solver (registered in TASK_UTILS, ldr_mm/reconstruction/m_step/):
# 'lda' (closed form, recommended: docs/stage2.md) blended
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

# iteration-based logs (the loop sets them for training; this also for
# tools/test.py, which builds no loop)
log_processor = dict(by_epoch=False)
# validation metrics logged at their iteration: the loop sets it; kept for
# configs that still write default_hooks = dict(_base_.ldr_stage2_hooks, ...)
ldr_stage2_hooks = dict(logger=dict(log_metric_by_epoch=False))

# The demo's stage 2 (small images, C=10): statistics kept in checkpoints,
# the 'sgd' M-step (paper configs) at Adam 1e-3, a log line every 5
# iterations.
ldr_stage2_demo_train_cfg = dict(
    ldr_stage2_train_cfg,
    stats_in_checkpoint=True,
    m_optim_wrapper=dict(
        type='OptimWrapper',
        optimizer=dict(
            type='Adam', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-5)))
ldr_stage2_demo_hooks = dict(logger=dict(interval=5))

# LDR stage 2 on a CSRA stage 1 (a configs/baselines/csra_*.py as the first
# _base_; docs/stage2.md, "On a CSRA stage 1"): CSRA's attention becomes the
# class-feature neck (CSRANeck), its classifier the group-wise head that the
# M-step refits. features='concat' ([mean-pooled ; attended], 2 D per
# class) is the layout chosen on the in-repo benchmarks' validation; for
# ResNet-50 it is 4096-d per class, the width of the ResNet-50 LDR stage 2
# (ldr_r50.py's concat neck), so the same statistics memory (full float64
# covariances: C x 2 x 4096^2 x 8 B, ~3.8 GB at C=14). Unmeasured on medical
# data; with less memory: features='sum' (D) or train_cfg.cov_type='diag'.
csra_stage2_model = dict(
    ldr_stage2_model, type='CSRAStage2Classifier', features='concat')
