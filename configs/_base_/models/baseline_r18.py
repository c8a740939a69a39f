_base_ = './baseline_r50.py'
# ResNet-18 (512 channels), randomly initialised: the demo backbone, as in
# ldr_r18.py (output stride 16: a 6 x 6 map of a 96 x 96 image).
model = dict(
    backbone=dict(depth=18, init_cfg=None, strides=(1, 2, 2, 1),
                  dilations=(1, 1, 1, 2)),
    head=dict(in_channels=512))
