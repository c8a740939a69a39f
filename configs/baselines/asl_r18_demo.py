# Baseline: Asymmetric loss (Ridnik et al., ICCV 2021) with MMPretrain's
# AsymmetricLoss and the paper's defaults gamma+ = 0, gamma- = 4, clip 0.05.
# Everything else as bce_r18_demo.py.
_base_ = ['./bce_r18_demo.py', '../_base_/losses/multilabel.py']

model = dict(head=dict(loss=_base_.asl_loss))
