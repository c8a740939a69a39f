# An ImageNet ResNet-50 (the paper's default backbone, last stage only),
# shared by the baseline (baseline_r50.py) and LDRNet (ldr_r50.py) models.
model = dict(
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch',
        # A URL or a local file (torchvision / timm / MMPretrain .pth or
        # .safetensors; offline: docs/weights.md); None: random weights.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth',
            prefix='backbone')))
