# ldr_r18_mnistlt_stage1.py with the paper's neck: the class-aware features
# alone, without the pooled image feature (gap_residual=False); the
# recommended loss (DB), unlike ldr_r18_mnistlt_stage1_paper.py (BCE)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage1.py'
model = dict(neck=dict(gap_residual=False))
