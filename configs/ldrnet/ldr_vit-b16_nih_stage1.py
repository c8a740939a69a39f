# LDRNet stage 1 on NIH ChestX-ray14 with an ImageNet ViT-B/16; everything
# else as ldr_r50_nih_stage1.py. out_type='featmap' gives the 28 x 28 patch
# map at 448 px ('raw' tokens work too: the neck drops the class token).
_base_ = './ldr_r50_nih_stage1.py'

model = dict(
    backbone=dict(
        _delete_=True, type='VisionTransformer', arch='b', img_size=448,
        patch_size=16, out_type='featmap', drop_path_rate=0.1,
        # offline: a local timm / MMPretrain file, docs/weights.md
        init_cfg=dict(
            type='Pretrained', prefix='backbone',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'vit/finetune/vit-base-p16_in21k-pre-3rdparty_ft-64xb64_in1k-384_'
            '20210928-98e8652b.pth')),
    neck=dict(in_channels=768))
