# One-stage LDR on MNIST-LT: ldr_r18_mnistlt_stage1.py whose head is refitted
# in closed form at every epoch. docs/recipe.md ("One-stage LDR").
_base_ = ['./ldr_r18_mnistlt_stage1.py', '../_base_/online/ldr_online.py']
custom_hooks = _base_.custom_hooks + [_base_.online_reconstruction_hook]
