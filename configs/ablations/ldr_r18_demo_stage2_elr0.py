# ldr_r18_demo_stage2.py with a frozen encoder: E-step learning rate 0 (issue
# 12 item 3: what the E-step adds; BN running statistics still follow the
# E-step batches, as in every stage-2 run)
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1.py'  # tools/benchmark_suite.py
optim_wrapper = dict(optimizer=dict(lr=0.0))
