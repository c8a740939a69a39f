# ldr_r18_mnistlt_stage1.py as the paper describes it (no pooled-feature
# residual in the neck)
_base_ = './ldr_r18_mnistlt_stage1.py'
model = dict(neck=dict(gap_residual=False))
