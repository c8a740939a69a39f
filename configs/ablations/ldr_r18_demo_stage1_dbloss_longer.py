# The train-longer control of ldr_r18_demo_stage2_dbloss.py (issue 12, item 7):
# ldr_r18_demo_stage1_dbloss.py trained on from its checkpoint for stage 2's
# real-image iterations, with its own loss (DB loss) and stage 2's E-step
# optimiser; see configs/ldrnet/ldr_r18_demo_stage1_longer.py.
_base_ = ['../ldrnet/ldr_r18_demo_stage1_longer.py',
          '../_base_/losses/multilabel.py']
stage1_config = './ldr_r18_demo_stage1_dbloss.py'  # tools/benchmark_suite.py
model = dict(head=dict(loss=_base_.dbloss_loss))
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
load_from = 'work_dirs/ldr_r18_demo_stage1_dbloss/epoch_12.pth'
