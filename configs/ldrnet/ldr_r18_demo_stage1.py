# LDRNet stage 1 (label decoupling) on the built-in demo dataset, ResNet-18
# from scratch, CPU friendly. `make demo` runs it via tools/run_demo.py.
_base_ = [
    '../_base_/models/ldr_r18.py', '../_base_/datasets/ldr_demo.py',
    '../_base_/schedules/adam_demo.py', '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(prompt_cache='data/ldr_demo/prompt_ViT-B-32_random.pth'),
    head=dict(num_classes=10))

default_hooks = dict(logger=dict(interval=10))
# the runtime's hooks + the class frequencies of the DB loss (training set)
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
