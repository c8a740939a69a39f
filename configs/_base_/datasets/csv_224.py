# Your own data: a CSV table (or a JSON list with the same keys) of images
# under data_root, read by MultiLabelCSVDataset (docs/datasets.md):
#   img_path,patient_id,Effusion,Nodule,Mass    one column per finding,
#   scans/a.png,p01,1,0,-1                      1 / 0 / -1 uncertain / blank
# Resize to 256 x 256, crop 224 x 224, no flip (findings can be lateral).
# A leaf sets data_root, ann_file and classes once for the three splits:
#   data = dict(data_root='data/mine', ann_file='labels.csv', classes=[...])
#   train_dataloader = val_dataloader = test_dataloader = dict(dataset=data)
# plus model.head.num_classes and data_preprocessor.num_classes.
# Defaults a leaf may change in `data`: patient_column='patient_id' (None:
# one patient per row); uncertain='ignore' (-1 is masked out of the loss,
# the metrics and the stage-2 statistics; 'zeros' / 'ones' read it as 0 /
# 1); the split: a label-stratified patient-level 7:1:2 split (split_ratios,
# split_seed; split_column='split' for your own; num_folds=5, fold=k for
# k-fold cross-validation).
_base_ = ['../evaluators/multilabel.py']

dataset_type = 'MultiLabelCSVDataset'

data_preprocessor = dict(
    num_classes=None,  # set by the leaf: len(classes)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True)

# gt_mask (the per-label U-Ignore mask) packed always: PackInputs skips a
# key a sample does not have (uncertain='zeros' / 'ones')
train_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    dict(type='PackInputs', algorithm_keys=('gt_mask', )),
]
test_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(
        type='PackInputs',
        algorithm_keys=('gt_mask', ),
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'patient_id')),
]

_dataset = dict(
    type=dataset_type,
    patient_column='patient_id',
    uncertain='ignore')
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(**_dataset, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(**_dataset, split='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    dataset=dict(**_dataset, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

# means over all classes (give head_classes / tail_classes in the dataset's
# metainfo for group means)
# val_evaluator / test_evaluator: ../evaluators/multilabel.py
