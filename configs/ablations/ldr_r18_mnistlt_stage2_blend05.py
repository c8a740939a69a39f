# ldr_r18_mnistlt_stage2.py with the LDA head blended half and half with the
# stage-1 head (each standardised by its score std over the statistics):
# m_solver=dict(type='lda', blend=0.5) (docs/stage2.md, docs/recipe.md)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage2.py'
stage1_config = '../ldrnet/ldr_r18_mnistlt_stage1.py'  # tools/benchmark_suite.py
train_cfg = dict(m_solver=dict(_delete_=True, type='lda', blend=0.5))
