# ldr_r18_mnistlt_stage1.py with LDRNeck(gap_residual=True): each class-aware
# feature gets the pooled image feature added, so the model contains the
# plain GAP + linear classifier (measurements: docs/stage1.md)
_base_ = './ldr_r18_mnistlt_stage1.py'
model = dict(neck=dict(gap_residual=True))
