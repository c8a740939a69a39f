# ldr_r50_spa_stage1.py as the paper describes it: the decoupling neck
# without the pooled-feature residual (the recommended configs add it).
_base_ = './ldr_r50_spa_stage1.py'
model = dict(neck=dict(gap_residual=False))
