# The train-longer control (issue 12, item 7): the stage-1 model trained on
# from its stage-1 checkpoint for as many real-image iterations as stage 2
# runs (rounds x e_iters of ldr_r18_demo_stage2.py: its E-steps are the only
# iterations that see real images), with the stage-1 loss (DB loss), every
# parameter trainable and stage 2's E-step optimiser (constant Adam 1e-5)
# and validation/checkpoint interval. Stage 2 has to beat this, not only
# stage 1. Start it from the stage-1 checkpoint stage 2 fine-tunes:
#   python tools/train.py configs/ldrnet/ldr_r18_demo_stage1_longer.py \
#       --cfg-options load_from=work_dirs/ldr_r18_demo_stage1/epoch_12.pth
_base_ = './ldr_r18_demo_stage2.py'
stage1_config = './ldr_r18_demo_stage1.py'
model = dict(_delete_=True, type='LDRClassifier',
             backbone=_base_.model.backbone, neck=_base_.model.neck,
             head=dict(type='LDRHead', num_classes=_base_.model.head.num_classes,
                       loss=_base_.dbloss_cfg))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=_base_.rounds * _base_.e_iters,
                 val_interval=_base_.e_iters)
# what EMTrainLoop sets up for stage 2: a checkpoint per "round", logs by
# iteration
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=_base_.e_iters),
                     logger=dict(log_metric_by_epoch=False))
load_from = _base_.model.stage1_checkpoint
