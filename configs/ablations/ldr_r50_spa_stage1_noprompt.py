# Ablation (paper Table 4, row "+ - -", on AxSpA as in the paper): stage 1
# without the prompt. The query is only the learnable label embeddings
# (LDRNeck use_prompt=False); everything else as
# configs/ldrnet/ldr_r50_spa_stage1_paper.py.
_base_ = '../ldrnet/ldr_r50_spa_stage1_paper.py'

model = dict(neck=dict(use_prompt=False, prompt_cache=None))
