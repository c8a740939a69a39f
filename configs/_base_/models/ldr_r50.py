# LDRNet stage 1 on an ImageNet ResNet-50 (the paper's default backbone).
# Swap the backbone by inheritance: set `model.backbone` and
# `model.neck.in_channels` (see ldr_d121.py).
model = dict(
    type='LDRClassifier',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        # A URL or a local file; set to None for random initialisation.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')),
    neck=dict(
        type='LDRNeck',
        in_channels=2048,
        # embed_dims defaults to in_channels (the paper)
        prompt_cache=None,  # set by the leaf config (configs/ldrnet/)
        num_layers=1,
        num_heads=8,
        dropout=0.1),
    head=dict(
        type='LDRHead',
        num_classes=None,  # set by the leaf config, e.g. 14 for NIH
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)),
)
