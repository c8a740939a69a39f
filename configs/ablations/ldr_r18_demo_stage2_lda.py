# ldr_r18_demo_stage2.py with the LDA head alone in the M-step (blend=1),
# the recommended M-step before the blend with the stage-1 head
# (docs/recipe.md)
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1.py'  # tools/benchmark_suite.py
train_cfg = dict(m_solver=dict(blend=1.0))
