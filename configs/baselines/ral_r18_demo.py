# Baseline: Robust asymmetric loss (Park et al., ICCV 2023 workshops)
# with the authors' released settings.
# Everything else as bce_r18_demo.py.
_base_ = ['./bce_r18_demo.py', '../_base_/losses/multilabel.py']

model = dict(head=dict(loss=_base_.ral_loss))
