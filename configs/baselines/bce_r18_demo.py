# Baseline: plain multi-label BCE (MMPretrain's MultiLabelLinearClsHead) on
# the built-in demo dataset, ResNet-18 from scratch. Same data pipeline,
# schedule and runtime as configs/ldrnet/ldr_r18_demo_stage1.py (tests check
# that they stay equal). The other demo baselines inherit this file.
_base_ = [
    '../_base_/models/baseline_r18.py', '../_base_/datasets/ldr_demo.py',
    '../_base_/schedules/adam_demo.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=10))

default_hooks = dict(logger=dict(interval=10))
