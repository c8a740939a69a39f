# Baseline: Robust asymmetric loss (Park et al., ICCV 2023 workshops)
# with the authors' released settings.
# Everything else as bce_r50_spa.py.
_base_ = './bce_r50_spa.py'

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='RobustAsymmetricLoss',
            gamma_pos=0.0,
            gamma_neg=4.0,
            clip=0.05,
            lamb=1.5,
            epsilon_pos=1.0,
            epsilon_pos_pow=-2.5,
            epsilon_neg=0.0)))
