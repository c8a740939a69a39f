# Attention-head baseline: an ImageNet ResNet-50 and a Query2Label-style head
# (ldr_mm's Query2LabelHead: learnable label queries, one Transformer decoder
# layer over the image tokens, group-wise linear) on the backbone's last
# feature map, no neck. Width D = the backbone's channels, FFN D, 8 heads,
# dropout 0.1: the size of LDRNeck's one encoder layer (configs/_base_/models/
# ldr_r50.py) plus a cross-attention. The leaf configs
# (configs/baselines/q2l_*.py) set num_classes and the loss (one line:
# `loss=_base_.<name>_loss`, the names of configs/_base_/losses/multilabel.py).
_base_ = ['./backbones/resnet50_in1k.py', '../losses/multilabel.py']
model = dict(
    type='ImageClassifier',
    neck=None,
    head=dict(
        type='Query2LabelHead',
        num_classes=None,  # set by the leaf config, e.g. 14 for NIH
        in_channels=2048,
        num_layers=1,
        num_encoder_layers=0,
        num_heads=8,
        dropout=0.1,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)),
)
