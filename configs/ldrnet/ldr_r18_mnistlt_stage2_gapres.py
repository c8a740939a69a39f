# ldr_r18_mnistlt_stage2.py fine-tuning ldr_r18_mnistlt_stage1_gapres.py
_base_ = './ldr_r18_mnistlt_stage2.py'
stage1_config = './ldr_r18_mnistlt_stage1_gapres.py'  # tools/benchmark_suite.py
model = dict(
    neck=dict(gap_residual=True),
    stage1_checkpoint='work_dirs/ldr_r18_mnistlt_stage1_gapres/epoch_12.pth')
