# ldr_r18_mnistlt_stage1.py trained with the robust asymmetric loss (the best
# tail loss baseline on the demo, configs/baselines/ral_r18_demo.py) instead of
# the recommended DB loss: does the decoupling neck add to the best loss?
_base_ = '../ldrnet/ldr_r18_mnistlt_stage1.py'
model = dict(head=dict(loss=_base_.ral_loss))
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'ClassFrequencyHook']
