# ldr_r18_mnistlt_stage1.py as the paper describes it (no pooled-feature
# residual in the neck, BCE)
_base_ = './ldr_r18_mnistlt_stage1.py'
model = dict(
    neck=dict(gap_residual=False),
    head=dict(loss=_base_.bce_loss))
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'ClassFrequencyHook']
