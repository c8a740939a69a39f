# ldr_r50_odir_stage2.py as the paper describes it, fine-tuning
# ldr_r50_odir_stage1_paper.py: the M-step is m_iters Adam steps on virtual
# features ('sgd'); the recommended configs solve it in closed form ('lda').
_base_ = './ldr_r50_odir_stage2.py'
stage1_config = './ldr_r50_odir_stage1_paper.py'  # tools/benchmark_suite.py
model = dict(
    neck=dict(gap_residual=False),
    stage1_checkpoint='work_dirs/ldr_r50_odir_stage1_paper/epoch_30.pth')
train_cfg = dict(m_solver='sgd')
