# Ablation (paper Table 4, row "+ + -"): both stages without the prompt.
# Stage 2 fine-tunes the no-prompt stage-1 model
# (ldr_r18_demo_stage1_noprompt.py, which tools/benchmark_suite.py trains
# first, via `stage1_config`); everything else as
# configs/ldrnet/ldr_r18_demo_stage2_paper.py.
_base_ = '../ldrnet/ldr_r18_demo_stage2_paper.py'

stage1_config = './ldr_r18_demo_stage1_noprompt.py'
model = dict(
    stage1_checkpoint='work_dirs/ldr_r18_demo_stage1_noprompt/epoch_12.pth',
    neck=dict(use_prompt=False, prompt_cache=None))
