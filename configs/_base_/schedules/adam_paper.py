# The paper's optimiser: Adam, lr 1e-4, betas (0.9, 0.999), weight decay
# 1e-5, batch 32. The paper gives no epoch count or schedule; we use 30
# epochs of cosine decay with a 100-iteration linear warm-up. If you change
# train_cfg.max_epochs, change the cosine `end` with it.
optim_wrapper = dict(
    optimizer=dict(
        type='Adam', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=30,
         eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr is for a total batch of 32; `--auto-scale-lr` rescales it.
auto_scale_lr = dict(base_batch_size=32)
