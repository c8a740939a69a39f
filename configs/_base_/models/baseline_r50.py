# The plain multi-label baseline of the paper's tables (Table 1 "ResNet",
# Table 4 first row): an ImageNet ResNet-50, global average pooling and
# MMPretrain's MultiLabelLinearClsHead trained with BCE (sigmoid cross
# entropy). The baselines in configs/baselines/ swap only `model.head.loss`.
# Swap the backbone by inheritance: set `model.backbone` and
# `model.head.in_channels` (see baseline_d121.py).
_base_ = './backbones/resnet50_in1k.py'
model = dict(
    type='ImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=None,  # set by the leaf config, e.g. 14 for NIH
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)),
)
