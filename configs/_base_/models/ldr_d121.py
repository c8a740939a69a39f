_base_ = './ldr_r50.py'
# DenseNet-121 (1024 channels), ImageNet weights (a URL; a local file
# offline: model.backbone.init_cfg.checkpoint, docs/weights.md).
model = dict(
    backbone=dict(
        _delete_=True,
        type='DenseNet',
        arch='121',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'densenet/densenet121_4xb256_in1k_20220426-07450f99.pth',
            prefix='backbone')),
    neck=dict(in_channels=1024))
