# CheXpert (14 observations, uncertain labels) at the paper's chest X-ray
# input size: resize to 512 x 512, crop 448 x 448 (CheXpert-v1.0-small's
# ~390 x 320 images are upsampled; the full CheXpert-v1.0 is not). Reads
# train.csv / valid.csv and the images as unpacked (data_root = the folder
# holding the two CSV files). Split: test = valid.csv, train / val = a
# seeded patient-level 7:1 split of train.csv (split_method='official');
# split_method='patient' splits both files 7:1:2 by patient.
# Uncertain labels (-1): U-Ignore, a per-label mask that the loss and the
# metrics honour (PackInputs must pack 'gt_mask'); 'ones' / 'zeros' are the
# CheXpert paper's U-Ones / U-Zeros. docs/datasets.md has the layout.
_base_ = ['../evaluators/multilabel.py']

dataset_type = 'CheXpert'
data_root = 'data/chexpert/CheXpert-v1.0-small'
num_classes = 14
uncertain = 'ignore'

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True)

train_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(512, 512)),
    dict(type='RandomCrop', crop_size=448),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', algorithm_keys=('gt_mask', )),
]
test_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(512, 512)),
    dict(type='CenterCrop', crop_size=448),
    dict(
        type='PackInputs',
        algorithm_keys=('gt_mask', ),
        meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                   'patient_id')),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        uncertain=uncertain,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        uncertain=uncertain,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        uncertain=uncertain,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

# CheXpert has no head/tail split in the paper: the metrics report means
# over all classes (set head_classes / tail_classes in the evaluators or
# the dataset metainfo for group means).
# val_evaluator / test_evaluator: ../evaluators/multilabel.py
