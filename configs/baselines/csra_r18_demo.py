# Attention-head baseline: MMPretrain's CSRAClsHead on the backbone's map
# (configs/_base_/models/csra_r18.py) on the built-in demo dataset. Data,
# schedule, runtime and checkpoint rule as every demo row (the _base_ files
# of bce_r18_demo.py and ldr_r18_demo_stage1.py). The loss is the one that
# was best for CSRA on the demo's validation split among BCE, ASL, DB and
# RAL (docs/baselines.md, "Attention-head baselines"); swap it in one line.
_base_ = [
    '../_base_/models/csra_r18.py', '../_base_/datasets/ldr_demo.py',
    '../_base_/schedules/adam_demo.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=10, loss=_base_.ral_loss))

default_hooks = dict(logger=dict(interval=10))
# the runtime's hooks + the class frequencies of the DB loss (training set;
# a no-op for the other losses)
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
