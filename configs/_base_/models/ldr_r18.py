_base_ = './ldr_r50.py'
# ResNet-18 (512 channels), randomly initialised: the demo backbone, the
# same in baseline_r18.py (every row of the demo / MNIST-LT benchmarks).
# Output stride 16 (last stage dilated instead of strided): a 96 x 96 image
# gives a 6 x 6 map, i.e. 36 image tokens for the decoupling neck instead of
# the 3 x 3 of stride 32 (a 448 x 448 scan at stride 32 gives 14 x 14).
# Chosen on validation (docs/recipe.md, "the token grid").
model = dict(
    backbone=dict(depth=18, init_cfg=None, strides=(1, 2, 2, 1),
                  dilations=(1, 1, 1, 2)),
    neck=dict(in_channels=512))
