# Attention-head baseline: an ImageNet ResNet-50 and MMPretrain's
# CSRAClsHead (class-specific residual attention, Zhu and Wu, ICCV 2021) on
# the backbone's last feature map, no neck. One attention head with
# lambda 0.1, MMPretrain's setting for ResNet (configs/csra/ of MMPretrain).
# MaskedCSRAClsHead is CSRAClsHead (same parameters, logits and, without
# U-Ignore masks, loss) whose loss leaves masked (uncertain) labels out.
# The leaf configs (configs/baselines/csra_*.py) set num_classes and the loss
# (one line: `loss=_base_.<name>_loss`, the names of
# configs/_base_/losses/multilabel.py).
_base_ = ['./backbones/resnet50_in1k.py', '../losses/multilabel.py']
model = dict(
    type='ImageClassifier',
    neck=None,
    head=dict(
        type='MaskedCSRAClsHead',
        num_classes=None,  # set by the leaf config, e.g. 14 for NIH
        in_channels=2048,
        num_heads=1,
        lam=0.1,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True)),
)
