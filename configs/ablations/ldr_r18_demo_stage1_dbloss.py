# ldr_r18_demo_stage1.py trained with the distribution-balanced loss of
# configs/baselines/dbloss_r18_demo.py instead of BCE (class frequencies of
# the training set through ClassFrequencyHook)
_base_ = ['../ldrnet/ldr_r18_demo_stage1.py', '../_base_/losses/multilabel.py']
model = dict(head=dict(loss=_base_.dbloss_loss))
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
