# LDRNet stage 1 (label decoupling) on ODIR-5K
# with an ImageNet DenseNet-121, the paper's settings:
# Adam 1e-4, weight decay 1e-5, batch 32.
# Make the prompt cache first (docs/datasets.md):
#   python tools/misc/extract_prompt_embeddings.py \
#       configs/ldrnet/ldr_d121_odir_stage1.py --weights CLIP_WEIGHTS
_base_ = [
    '../_base_/models/ldr_d121.py', '../_base_/datasets/odir_448.py',
    '../_base_/schedules/adam_paper.py', '../_base_/default_runtime.py'
]

model = dict(
    neck=dict(prompt_cache='data/prompts/odir_ViT-B-32.pth'),
    head=dict(num_classes=8))

# keep the checkpoint with the best official ODIR score
default_hooks = dict(checkpoint=dict(save_best='odir/final'))
# the runtime's hooks + the class frequencies of the DB loss (training set)
custom_hooks = _base_.custom_hooks + [dict(type='ClassFrequencyHook')]
