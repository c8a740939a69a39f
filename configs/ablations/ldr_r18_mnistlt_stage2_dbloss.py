# ldr_r18_mnistlt_stage2.py fine-tuning ldr_r18_mnistlt_stage1_dbloss.py (the
# E-step keeps stage 2's GCE loss)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage2.py'
stage1_config = './ldr_r18_mnistlt_stage1_dbloss.py'  # tools/benchmark_suite.py
model = dict(
    stage1_checkpoint='work_dirs/ldr_r18_mnistlt_stage1_dbloss/epoch_12.pth')
