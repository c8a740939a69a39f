# LDRNet stage 1 on an ImageNet ResNet-50 (the paper's default backbone).
# Swap the backbone by inheritance: set `model.backbone` and
# `model.neck.in_channels` (see ldr_d121.py).
_base_ = ['./backbones/resnet50_in1k.py', '../losses/multilabel.py']
model = dict(
    type='LDRClassifier',
    neck=dict(
        type='LDRNeck',
        in_channels=2048,
        # embed_dims defaults to in_channels (the paper)
        # set by the leaf config (configs/ldrnet/): always a local file,
        # written offline from local CLIP weights (docs/prompts.md)
        prompt_cache=None,
        num_layers=1,
        num_heads=8,
        dropout=0.1,
        # recommended (issue 12, docs/stage1.md): the pooled image feature is
        # appended to every class-aware feature (width 2D), so the head has
        # separate weights for the decoupled and the pooled part and the
        # model contains GAP + linear exactly. 'add' (True) was the previous
        # recommendation (configs/ablations/*_stage{1,2}_add.py); the paper's
        # neck (False) is the *_paper.py configs' choice.
        gap_residual='concat'),
    head=dict(
        type='LDRHead',
        num_classes=None,  # set by the leaf config, e.g. 14 for NIH
        # recommended (issue 12, docs/recipe.md): the distribution-balanced
        # loss; its class frequencies come from ClassFrequencyHook, which
        # every LDR stage-1 leaf config adds to custom_hooks. The paper's BCE
        # is the *_paper.py configs' choice.
        loss=_base_.dbloss_cfg),
)
