# LDRNet stage 1 (label decoupling) on the built-in demo dataset, ResNet-18
# from scratch, CPU friendly. `make demo` runs it via tools/misc/run_demo.py.
_base_ = [
    '../_base_/models/ldr_r18.py', '../_base_/datasets/ldr_demo.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(prompt_cache='data/ldr_demo/prompt_ViT-B-32_random.pth'),
    head=dict(num_classes=10))

# From scratch on small images: a larger lr than the paper's fine-tuning one.
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_epochs=12)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=12,
         eta_min=1e-5, convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=10))
