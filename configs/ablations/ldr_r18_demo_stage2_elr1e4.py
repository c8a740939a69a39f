# ldr_r18_demo_stage2.py with a 10x E-step learning rate (Adam 1e-4, the
# paper's; issue 12 item 3)
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1.py'  # tools/benchmark_suite.py
optim_wrapper = dict(optimizer=dict(lr=1e-4))
