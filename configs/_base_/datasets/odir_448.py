# ODIR-5K (8 patient-level labels N D G C A H M O) at the paper's input
# size: resize to 512 x 512, crop 448 x 448. Reads the official training
# workbook and the fundus images under data_root, seeded patient-level
# 7:1:2 split. mode='eye': every fundus image is a sample with its
# patient's labels; the metrics merge the two eyes of a patient
# (aggregate_by='patient_id': N by min, diseases by max; the rule is the
# dataset's class_aggregate) and report the official ODIR score per
# patient. mode='patient' shows both eyes side by side in one image
# (docs/datasets.md).
dataset_type = 'ODIR5K'
data_root = 'data/odir'
num_classes = 8

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
    # patient_id lets the metrics score patients, not eye images
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
        mode='eye',
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
        mode='eye',
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
        mode='eye',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

# Table 3: the official ODIR score (kappa, F1, AUC, final) per patient;
# the per-class metrics are per patient too.
val_evaluator = [
    dict(type='ODIRMetric', aggregate_by='patient_id'),
    dict(type='MultiLabelAUC', aggregate_by='patient_id'),
    dict(type='MultiLabelAP', aggregate_by='patient_id'),
    dict(type='MultiLabelAccuracy', aggregate_by='patient_id'),
    dict(type='MultiLabelBalancedAccuracy', aggregate_by='patient_id'),
]
test_evaluator = [
    dict(type='ODIRMetric', aggregate_by='patient_id', per_class=True),
    dict(type='MultiLabelAUC', aggregate_by='patient_id', per_class=True),
    dict(type='MultiLabelAP', aggregate_by='patient_id', per_class=True),
    dict(type='MultiLabelAccuracy', aggregate_by='patient_id',
         per_class=True),
    dict(type='MultiLabelBalancedAccuracy', aggregate_by='patient_id',
         per_class=True),
]
