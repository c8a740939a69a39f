# Ablation (paper Table 5, row "BlueBERT", on AxSpA): stage 1 with the prompt
# embedded by BlueBERT's word-piece embeddings (768-d; the neck's MLP maps
# them to D). Make the cache with --encoder transformers: docs/prompts.md.
_base_ = '../ldrnet/ldr_r50_spa_stage1_paper.py'

model = dict(neck=dict(prompt_cache='data/prompts/axspa_bluebert.pth'))
