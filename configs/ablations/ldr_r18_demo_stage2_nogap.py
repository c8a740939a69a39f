# ldr_r18_demo_stage2.py fine-tuning ldr_r18_demo_stage1_nogap.py (the
# paper's neck, gap_residual=False, with the DB loss)
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'
stage1_config = './ldr_r18_demo_stage1_nogap.py'  # tools/benchmark_suite.py
model = dict(
    neck=dict(gap_residual=False),
    stage1_checkpoint='work_dirs/ldr_r18_demo_stage1_nogap/epoch_12.pth')
