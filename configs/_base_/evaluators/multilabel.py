# The multi-label evaluators of the dataset bases (csv_224, chexpert_448 and
# mimic_cxr_448, axspa_224, nih_448, ldr_demo; odir_448 has its own, by
# patient): ranking metrics (threshold-free) plus the thresholded mACC
# (accuracy at 0.5) and balanced accuracy, which show a classifier's
# head-class bias. Means over all classes, and over the head / tail classes
# when the dataset metainfo (or the evaluator) names them; the test run adds
# the per-class values. A dataset base names this file in its `_base_`.
val_evaluator = [
    dict(type='MultiLabelAUC'),
    dict(type='MultiLabelAP'),
    dict(type='MultiLabelAccuracy'),
    dict(type='MultiLabelBalancedAccuracy'),
]
test_evaluator = [
    dict(type='MultiLabelAUC', per_class=True),
    dict(type='MultiLabelAP', per_class=True),
    dict(type='MultiLabelAccuracy', per_class=True),
    dict(type='MultiLabelBalancedAccuracy', per_class=True),
]
