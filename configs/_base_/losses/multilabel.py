# The long-tail multi-label losses of the baselines, each defined once. New
# names only, so this file sits beside a model config in `_base_`:
#   _base_ = ['./bce_r50_nih.py', '../_base_/losses/multilabel.py']
#   model = dict(head=dict(loss=_base_.asl_loss))
# (`_delete_` replaces the inherited loss instead of merging into it.)

# Binary cross-entropy on sigmoid outputs (the paper's LDRNet stage-1 loss,
# configs/ldrnet/*_stage1_paper.py).
bce_loss = dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=True)

# Asymmetric loss (Ridnik et al., ICCV 2021), MMPretrain's AsymmetricLoss
# with the paper's defaults gamma+ = 0, gamma- = 4, clip 0.05.
asl_loss = dict(
    _delete_=True,
    type='AsymmetricLoss',
    gamma_pos=0.0,
    gamma_neg=4.0,
    clip=0.05)

# Distribution-balanced loss (Wu et al., ECCV 2020), the authors' COCO-MLT /
# VOC-MLT settings; needs ClassFrequencyHook in custom_hooks (class
# frequencies of the training set, before the first iteration).
dbloss_cfg = dict(
    type='DistributionBalancedLoss',
    gamma=2.0,
    neg_scale=2.0,
    init_bias=0.05,
    map_alpha=0.1,
    map_beta=10.0,
    map_mu=0.2)
# the same as an override of an inherited loss
dbloss_loss = dict(_delete_=True, **dbloss_cfg)

# Focal loss (Lin et al., ICCV 2017), MMPretrain's sigmoid FocalLoss with the
# paper's defaults gamma = 2, alpha = 0.25.
focal_loss = dict(_delete_=True, type='FocalLoss', gamma=2.0, alpha=0.25)

# Robust asymmetric loss (Park et al., ICCV 2023 workshops), the authors'
# released settings.
ral_loss = dict(
    _delete_=True,
    type='RobustAsymmetricLoss',
    gamma_pos=0.0,
    gamma_neg=4.0,
    clip=0.05,
    lamb=1.5,
    epsilon_pos=1.0,
    epsilon_pos_pow=-2.5,
    epsilon_neg=0.0)

# Two-way multi-label loss (Kobayashi, CVPR 2023), the paper's temperatures
# Tp = 4, Tn = 1.
twoway_loss = dict(_delete_=True, type='TwoWayMultiLabelLoss', tp=4.0, tn=1.0)
