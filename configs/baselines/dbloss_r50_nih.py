# Baseline: Distribution-balanced loss (Wu et al., ECCV 2020) with the
# authors' COCO-MLT / VOC-MLT settings. Its class frequencies come from the
# training set through ClassFrequencyHook, before the first iteration.
# Everything else as bce_r50_nih.py.
_base_ = ['./bce_r50_nih.py', '../_base_/losses/multilabel.py']

model = dict(head=dict(loss=_base_.dbloss_loss))

# the runtime's hooks plus ClassFrequencyHook
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
