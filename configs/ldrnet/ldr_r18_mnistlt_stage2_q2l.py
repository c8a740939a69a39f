# ldr_r18_demo_stage2_q2l.py on MNIST-LT, fine-tuning q2l_r18_mnistlt.py
stage1_config = '../baselines/q2l_r18_mnistlt.py'  # tools/benchmark_suite.py
_base_ = ['./ldr_r18_demo_stage2_q2l.py', '../_base_/datasets/mnist_lt.py']
train_dataloader = dict(dataset=_base_.mnist_lt_train)
val_dataloader = dict(dataset=_base_.mnist_lt_val)
test_dataloader = dict(dataset=_base_.mnist_lt_test)
model = dict(backbone=_base_.mnist_lt_backbone,
             stage1_checkpoint='work_dirs/q2l_r18_mnistlt/epoch_12.pth')
