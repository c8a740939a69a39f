# ldr_r18_demo_stage1.py as the paper describes it: the decoupling neck
# without the pooled-feature residual and with BCE (the recommended
# configs add the residual and use the DB loss).
_base_ = './ldr_r18_demo_stage1.py'
model = dict(
    neck=dict(gap_residual=False),
    head=dict(loss=_base_.bce_loss))
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'ClassFrequencyHook']
