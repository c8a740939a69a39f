# Attention-head baseline: a Query2Label-style head (ldr_mm's Query2LabelHead)
# on the last feature map of an ImageNet ResNet-50, no neck
# (configs/_base_/models/q2l_r50.py). Data, schedule, runtime and checkpoint
# rule as configs/baselines/bce_r50_spa.py and
# configs/ldrnet/ldr_r50_spa_stage1.py (the same _base_ files). The loss is
# the one chosen for CSRA on the demo's validation split (docs/baselines.md,
# "Attention-head baselines"; not re-chosen on this dataset); swap it in one
# line.
_base_ = [
    '../_base_/models/q2l_r50.py', '../_base_/datasets/axspa_224.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=12, loss=_base_.ral_loss))

# the runtime's hooks + the class frequencies of the DB loss (training set;
# a no-op for the other losses)
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
