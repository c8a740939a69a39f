# ldr_r18_demo_stage2.py with statistics over 4 augmented views of every
# training image (the train pipeline: random flips; issue 12 item 5)
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1.py'  # tools/benchmark_suite.py
train_cfg = dict(stats_dataloader=dict(views=4))
