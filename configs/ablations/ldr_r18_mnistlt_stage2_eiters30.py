# ldr_r18_mnistlt_stage2.py with 3x the E-step iterations (30 real batches per
# round, 90 in all; issue 12 item 3)
_base_ = '../ldrnet/ldr_r18_mnistlt_stage2.py'
stage1_config = '../ldrnet/ldr_r18_mnistlt_stage1.py'  # tools/benchmark_suite.py
e_iters = 30
train_cfg = dict(e_iters=e_iters)
