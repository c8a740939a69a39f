# ldr_r18_mnistlt_stage2.py as the paper describes it ('sgd' M-step),
# fine-tuning ldr_r18_mnistlt_stage1_paper.py
_base_ = './ldr_r18_mnistlt_stage2.py'
stage1_config = './ldr_r18_mnistlt_stage1_paper.py'  # tools/benchmark_suite.py
model = dict(
    neck=dict(gap_residual=False),
    stage1_checkpoint='work_dirs/ldr_r18_mnistlt_stage1_paper/epoch_12.pth')
train_cfg = dict(m_solver='sgd')
