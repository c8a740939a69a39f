# Baseline: Two-way multi-label loss (Kobayashi, CVPR 2023) with the
# paper's temperatures Tp = 4, Tn = 1.
# Everything else as bce_r50_spa.py.
_base_ = './bce_r50_spa.py'

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='TwoWayMultiLabelLoss',
            tp=4.0,
            tn=1.0)))
