# The plain multi-label baseline of the paper's tables (Table 1 "ResNet",
# Table 4 first row): an ImageNet ResNet-50, global average pooling and
# MMPretrain's MultiLabelLinearClsHead trained with BCE (sigmoid cross
# entropy). The baselines in configs/baselines/ swap only `model.head.loss`.
# Swap the backbone by inheritance: set `model.backbone` and
# `model.head.in_channels` (see baseline_d121.py).
model = dict(
    type='ImageClassifier',
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
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=None,  # set by the leaf config, e.g. 14 for NIH
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)),
)
