# Ablation (paper Table 5, row "CLIP", on AxSpA): stage 1 with the prompt
# embedded by CLIP ViT-B-32 token embeddings, i.e. exactly
# configs/ldrnet/ldr_r50_spa_stage1_paper.py, named here so the three Table-5 rows
# sit side by side. Cache: docs/prompts.md ("Table 5").
_base_ = '../ldrnet/ldr_r50_spa_stage1_paper.py'

model = dict(neck=dict(prompt_cache='data/prompts/axspa_ViT-B-32.pth'))
