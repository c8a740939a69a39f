# One-stage LDR (docs/recipe.md, "One-stage LDR"): the recommended stage 2's
# closed-form M-step (LDA blended half and half with the trained head,
# configs/_base_/stage2/ldr_em.py) refitted during stage 1 from streaming
# per-class, per-label Gaussian statistics of the class-aware features
# (ldr_mm/engine/hooks/online_reconstruction_hook.py). A new name only, so it
# sits beside a stage-1 config in _base_:
#   _base_ = ['./ldr_r18_demo_stage1.py', '../_base_/online/ldr_online.py']
#   custom_hooks = _base_.custom_hooks + [_base_.online_reconstruction_hook]
# Every option is a --cfg-options key of the hook's entry, e.g. (last hook)
#   custom_hooks.5.statistics=epoch
online_reconstruction_hook = dict(
    type='OnlineReconstructionHook',
    # 'ema': the sums decay by 1 - 1 / (ema_epochs * iterations per epoch)
    # every iteration (time constant: ema_epochs epochs); 'epoch': the sums
    # of the last epoch's training batches (reset at every refit). Chosen on
    # the demo's validation split (docs/recipe.md, "One-stage LDR").
    statistics='ema',
    ema_epochs=2,
    interval=1,  # refit every epoch (before its validation and checkpoint)
    # the last refit from stage 2's eval-mode statistics pass (one forward
    # pass over the training set with the test pipeline)
    eval_pass=False,
    m_solver=dict(type='lda', blend=0.5),
    sampler=dict(mode='reverse', alpha=0.9, eps=1e-9),
    cov_type='full',
    shrinkage='auto',
    ridge=1e-3)
