# LDRNet stage 1 (label decoupling) on NIH ChestX-ray14
# with an ImageNet ResNet-50, the paper's settings:
# Adam 1e-4, weight decay 1e-5, batch 32.
# Make the prompt cache first (docs/datasets.md):
#   python tools/misc/extract_prompt_embeddings.py \
#       configs/ldrnet/ldr_r50_nih_stage1.py --weights CLIP_WEIGHTS
_base_ = [
    '../_base_/models/ldr_r50.py', '../_base_/datasets/nih_448.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(prompt_cache='data/prompts/nih_ViT-B-32.pth'),
    head=dict(num_classes=14))
# the runtime's hooks + the class frequencies of the DB loss (training set)
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
