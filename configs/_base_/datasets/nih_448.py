# NIH ChestX-ray14 (14 findings) at the paper's input size: resize to
# 512 x 512, crop 448 x 448. Reads the official Data_Entry_2017*.csv and the
# images as unpacked under data_root (images_0XX/images/*.png or images/);
# the split is the paper's seeded patient-level 7:1:2 split (the same as
# tools/dataset_converters/nih_chestxray14.py with the same seed). For the
# official lists set `split_method='official'` in the three datasets.
# To train on converted / your own MultiLabelDataset JSON instead, see
# docs/datasets.md.
_base_ = ['../evaluators/multilabel.py']

dataset_type = 'NIHChestXray14'
data_root = 'data/nih'
num_classes = 14

# ImageNet statistics (the backbones are ImageNet-pretrained); grayscale
# X-rays are replicated to 3 channels by LoadMedicalImage.
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
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='Resize', scale=(512, 512)),
    dict(type='CenterCrop', crop_size=448),
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
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

# The paper reports per-class AUC on NIH (Table 2); mAP, mACC and balanced
# accuracy come along. Head/tail classes come from the dataset metainfo.
# val_evaluator / test_evaluator: ../evaluators/multilabel.py
