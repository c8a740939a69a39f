# ldr_r18_mnistlt_stage1.py trained with BCE instead of the recommended DB loss
# (the recommended stage-1 loss until issue 12 measured both: docs/recipe.md)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage1.py'
model = dict(head=dict(loss=_base_.bce_loss))
custom_hooks = [h for h in _base_.custom_hooks
                if h['type'] != 'ClassFrequencyHook']
