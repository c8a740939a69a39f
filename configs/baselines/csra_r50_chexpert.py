# Attention-head baseline on CheXpert (uncertain labels masked: U-Ignore):
# CSRA on the last feature map of an ImageNet ResNet-50, no neck
# (configs/_base_/models/csra_r50.py: MaskedCSRAClsHead, MMPretrain's
# CSRAClsHead whose loss leaves the masked labels out). Data, schedule,
# runtime and checkpoint rule as configs/ldrnet/ldr_r50_chexpert_stage1.py (the
# same _base_ files). The loss is the one chosen for CSRA on the demo's
# validation split (docs/baselines.md, "Attention-head baselines"; not
# re-chosen on this dataset); swap it in one line.
_base_ = [
    '../_base_/models/csra_r50.py', '../_base_/datasets/chexpert_448.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=14, loss=_base_.ral_loss))

# the runtime's hooks + the class frequencies of the DB loss (training set,
# known labels only; a no-op for the other losses)
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
