# Baseline: Focal loss (Lin et al., ICCV 2017) with MMPretrain's sigmoid
# FocalLoss and the paper's defaults gamma = 2, alpha = 0.25.
# Everything else as bce_r18_demo.py.
_base_ = ['./bce_r18_demo.py', '../_base_/losses/multilabel.py']

model = dict(head=dict(loss=_base_.focal_loss))
