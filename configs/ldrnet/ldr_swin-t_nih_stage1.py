# LDRNet stage 1 on NIH ChestX-ray14 with an ImageNet Swin-T (MMPretrain's
# SwinTransformer gives maps: 768 x 14 x 14 at 448 px); everything else as
# ldr_r50_nih_stage1.py.
_base_ = './ldr_r50_nih_stage1.py'

model = dict(
    backbone=dict(
        _delete_=True, type='SwinTransformer', arch='tiny', img_size=448,
        out_indices=(3, ), drop_path_rate=0.2,
        # offline: a local timm / MMPretrain file, docs/weights.md
        init_cfg=dict(
            type='Pretrained', prefix='backbone',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'swin-transformer/swin_tiny_224_b16x64_300e_imagenet_20210616_'
            '090925-66df6be6.pth')),
    neck=dict(in_channels=768))
