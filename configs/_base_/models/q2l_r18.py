_base_ = './q2l_r50.py'
# ResNet-18 (512 channels), randomly initialised: the demo backbone, as in
# baseline_r18.py and ldr_r18.py (output stride 16).
model = dict(
    backbone=dict(depth=18, init_cfg=None, strides=(1, 2, 2, 1),
                  dilations=(1, 1, 1, 2)),
    head=dict(in_channels=512))
