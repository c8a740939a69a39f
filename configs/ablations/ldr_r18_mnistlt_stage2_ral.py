# ldr_r18_mnistlt_stage2.py fine-tuning ldr_r18_mnistlt_stage1_ral.py (stage 1
# trained with the robust asymmetric loss)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage2.py'
stage1_config = './ldr_r18_mnistlt_stage1_ral.py'  # tools/benchmark_suite.py
model = dict(
    stage1_checkpoint='work_dirs/ldr_r18_mnistlt_stage1_ral/epoch_12.pth')
