# One-stage LDR on ODIR-5K: ldr_r50_odir_stage1.py whose head is refitted in
# closed form at every epoch (at D = 4096 the float64 sums are C x 2 x D x D
# = 2.1 GB on the model's device; cov_type='diag' needs 2 MB).
# docs/recipe.md ("One-stage LDR").
_base_ = ['./ldr_r50_odir_stage1.py', '../_base_/online/ldr_online.py']
custom_hooks = _base_.custom_hooks + [_base_.online_reconstruction_hook]
