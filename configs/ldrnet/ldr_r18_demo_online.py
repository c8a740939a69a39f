# One-stage LDR on the demo dataset: ldr_r18_demo_stage1.py whose head is
# refitted in closed form (stage 2's M-step) at every epoch; the checkpoints
# hold the refitted head. docs/recipe.md ("One-stage LDR").
_base_ = ['./ldr_r18_demo_stage1.py', '../_base_/online/ldr_online.py']
custom_hooks = _base_.custom_hooks + [_base_.online_reconstruction_hook]
