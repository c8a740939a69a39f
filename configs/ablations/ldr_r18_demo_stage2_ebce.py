# ldr_r18_demo_stage2.py with a BCE E-step instead of the paper's GCE
# (issue 12 item 3: GCE's gradient p^q (1 - p) nearly vanishes on the tail
# positives a stage-1 model scores low)
_base_ = '../ldrnet/ldr_r18_demo_stage2.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1.py'  # tools/benchmark_suite.py
model = dict(head=dict(
    loss=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=True)))
