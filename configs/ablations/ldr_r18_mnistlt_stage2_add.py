# ldr_r18_mnistlt_stage2.py fine-tuning ldr_r18_mnistlt_stage1_add.py (the
# previous recommended neck, gap_residual=True)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage2.py'
stage1_config = './ldr_r18_mnistlt_stage1_add.py'  # tools/benchmark_suite.py
model = dict(
    neck=dict(gap_residual=True),
    stage1_checkpoint='work_dirs/ldr_r18_mnistlt_stage1_add/epoch_12.pth')
