# Axial spondyloarthritis sacroiliac MRI slices (12 labels) at the paper's
# input size: resize to 256 x 256, crop 224 x 224. Reads the slice table
# data_root/annotations.csv (format in docs/datasets.md); its `split`
# column if present, else a seeded patient-level 7:1:2 split.
# No horizontal flip: the labels are lateral (ER/EL, ...), a flip would
# swap right and left.
_base_ = ['../evaluators/multilabel.py']

dataset_type = 'AxSpADataset'
data_root = 'data/axspa'
num_classes = 12

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True)

train_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='RandomCrop', crop_size=224),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(256, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(
        type='PackInputs',
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
        ann_file='annotations.csv',
        split='train',
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
        ann_file='annotations.csv',
        split='val',
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
        ann_file='annotations.csv',
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

# Table 1: AUC, mACC and mAP per slice, with head/tail means.
# val_evaluator / test_evaluator: ../evaluators/multilabel.py
