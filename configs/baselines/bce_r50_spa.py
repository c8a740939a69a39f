# Baseline: plain multi-label BCE (MMPretrain's MultiLabelLinearClsHead) on
# axial spondyloarthritis MRI with an ImageNet ResNet-50. Same data pipeline,
# schedule and runtime as configs/ldrnet/ldr_r50_spa_stage1.py (the same
# _base_ files).
# The other baselines inherit this file and swap `model.head.loss`.
_base_ = [
    '../_base_/models/baseline_r50.py', '../_base_/datasets/axspa_224.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=12))
