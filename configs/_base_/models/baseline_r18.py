_base_ = './baseline_r50.py'
# ResNet-18 (512 channels), randomly initialised: the demo backbone, as in
# ldr_r18.py.
model = dict(
    backbone=dict(depth=18, init_cfg=None),
    head=dict(in_channels=512))
