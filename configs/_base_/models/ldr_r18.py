_base_ = './ldr_r50.py'
# ResNet-18 (512 channels), randomly initialised: the demo backbone.
model = dict(
    backbone=dict(depth=18, init_cfg=None),
    neck=dict(in_channels=512))
