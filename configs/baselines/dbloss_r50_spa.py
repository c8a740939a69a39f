# Baseline: Distribution-balanced loss (Wu et al., ECCV 2020) with the
# authors' COCO-MLT / VOC-MLT settings. Its class frequencies come from the
# training set through ClassFrequencyHook, before the first iteration.
# Everything else as bce_r50_spa.py.
_base_ = './bce_r50_spa.py'

model = dict(
    head=dict(
        loss=dict(
            _delete_=True,
            type='DistributionBalancedLoss',
            gamma=2.0,
            neg_scale=2.0,
            init_bias=0.05,
            map_alpha=0.1,
            map_beta=10.0,
            map_mu=0.2)))

# the runtime's hooks plus ClassFrequencyHook
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
