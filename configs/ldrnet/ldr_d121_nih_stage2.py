# LDRNet stage 2 on NIH ChestX-ray14 with DenseNet-121: the ResNet-50 stage-2
# config with the backbone swapped by inheritance.
#   python tools/train.py configs/ldrnet/ldr_d121_nih_stage2.py \
#       --cfg-options model.stage1_checkpoint=work_dirs/ldr_d121_nih_stage1/best_*.pth
_base_ = './ldr_r50_nih_stage2.py'

model = dict(
    backbone=dict(_delete_=True, type='DenseNet', arch='121'),
    neck=dict(in_channels=1024),
    stage1_checkpoint='work_dirs/ldr_d121_nih_stage1/epoch_30.pth')
