# ldr_r18_demo_stage2.py on MNIST-LT, fine-tuning ldr_r18_mnistlt_stage1.py
stage1_config = './ldr_r18_mnistlt_stage1.py'  # tools/benchmark_suite.py
_base_ = ['./ldr_r18_demo_stage2.py', '../_base_/datasets/mnist_lt.py']
train_dataloader = dict(dataset=_base_.mnist_lt_train)
val_dataloader = dict(dataset=_base_.mnist_lt_val)
test_dataloader = dict(dataset=_base_.mnist_lt_test)
model = dict(backbone=_base_.mnist_lt_backbone,
             neck=dict(prompt_cache=_base_.mnist_lt_prompt_cache),
             stage1_checkpoint='work_dirs/ldr_r18_mnistlt_stage1/epoch_12.pth')
