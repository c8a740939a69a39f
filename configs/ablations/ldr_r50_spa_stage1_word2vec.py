# Ablation (paper Table 5, row "Word2vector", on AxSpA): stage 1 with the
# prompt embedded by word2vec vectors (one row per template word and per
# class name). Make the cache with --encoder word2vec: docs/prompts.md.
_base_ = '../ldrnet/ldr_r50_spa_stage1_paper.py'

model = dict(neck=dict(prompt_cache='data/prompts/axspa_word2vec.pth'))
