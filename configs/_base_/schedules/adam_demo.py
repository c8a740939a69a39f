# The demo schedule (configs/ldrnet/ldr_r18_demo_stage1.py and the demo
# baselines, configs/baselines/bce_r18_demo.py): the paper's Adam from
# scratch on small images, so a larger lr (1e-3) than the paper's fine-tuning
# one, 12 epochs of cosine decay after a 50-iteration linear warm-up.
_base_ = './adam_paper.py'

optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=12,
         eta_min=1e-5, convert_to_iter_based=True),
]
