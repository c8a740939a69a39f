# ldr_r18_mnistlt_stage2.py with classical Fisher LDA in the M-step: the
# within-class pooled covariance (weighted by the label counts) shrunk by
# D / (n_c^0 + n_c^1 + D) (issue 12 item 1; docs/recipe.md)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage2.py'
stage1_config = '../ldrnet/ldr_r18_mnistlt_stage1.py'  # tools/benchmark_suite.py
train_cfg = dict(shrinkage='pooled', m_solver=dict(pooling='weighted'))
