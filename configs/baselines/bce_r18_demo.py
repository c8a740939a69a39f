# Baseline: plain multi-label BCE (MMPretrain's MultiLabelLinearClsHead) on
# the built-in demo dataset, ResNet-18 from scratch. Same data pipeline,
# schedule and runtime as configs/ldrnet/ldr_r18_demo_stage1.py (tests check
# that they stay equal). The other demo baselines inherit this file.
_base_ = [
    '../_base_/models/baseline_r18.py', '../_base_/datasets/ldr_demo.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(head=dict(num_classes=10))

# the demo schedule of ldr_r18_demo_stage1.py
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=12,
         eta_min=1e-5, convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=10))
