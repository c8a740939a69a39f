# Ablation (paper Fig. 3b): q of the E-step's multi-label GCE loss
# (Eq. 16, docs/stage2.md), q = 0.6 instead of 0.8 (q -> 0 is BCE, q = 1 MAE).
# Everything else as configs/ldrnet/ldr_r18_demo_stage2_paper.py.
_base_ = '../ldrnet/ldr_r18_demo_stage2_paper.py'
stage1_config = '../ldrnet/ldr_r18_demo_stage1_paper.py'  # tools/benchmark_suite.py

model = dict(head=dict(loss=dict(q=0.6)))
