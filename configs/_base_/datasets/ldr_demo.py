# The built-in long-tailed multi-label demo dataset (96x96 synthetic scans,
# generated on first use under data_root; see ldr_mm/datasets/demo.py).
_base_ = ['../evaluators/multilabel.py']

dataset_type = 'LDRDemoDataset'
data_root = 'data/ldr_demo'
num_classes = 10

data_preprocessor = dict(
    num_classes=num_classes,
    mean=[127.5, 127.5, 127.5],
    std=[64.0, 64.0, 64.0],
    to_rgb=True,
    to_onehot=True)

train_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadMedicalImage'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
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
    num_workers=2,
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
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)

# ranking metrics (threshold-free) plus the thresholded mACC (accuracy at 0.5)
# and balanced accuracy, which show a classifier's head-class bias
# val_evaluator / test_evaluator: ../evaluators/multilabel.py
