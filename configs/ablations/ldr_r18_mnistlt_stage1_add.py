# ldr_r18_mnistlt_stage1.py with the previous recommended neck: the pooled
# image feature added to every class-aware feature (gap_residual=True, one
# weight vector for both parts) instead of appended to it ('concat')
_base_ = '../ldrnet/ldr_r18_mnistlt_stage1.py'
model = dict(neck=dict(gap_residual=True))
