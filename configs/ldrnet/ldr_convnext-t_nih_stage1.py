# LDRNet stage 1 on NIH ChestX-ray14 with an ImageNet ConvNeXt-T instead of
# the ResNet-50; everything else as ldr_r50_nih_stage1.py. ConvNeXt must keep
# its map: gap_before_final_norm=False (768 x 14 x 14 at 448 px).
_base_ = './ldr_r50_nih_stage1.py'

model = dict(
    backbone=dict(
        _delete_=True, type='ConvNeXt', arch='tiny', out_indices=(3, ),
        drop_path_rate=0.1, gap_before_final_norm=False,
        # offline: a local timm / MMPretrain file, docs/weights.md
        init_cfg=dict(
            type='Pretrained', prefix='backbone',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'convnext/convnext-tiny_32xb128_in1k_20221207-998cf3e9.pth')),
    neck=dict(in_channels=768))
