# q2l_r18_demo.py on MNIST-LT (real digits; configs/_base_/datasets/mnist_lt.py)
_base_ = ['./q2l_r18_demo.py', '../_base_/datasets/mnist_lt.py']
train_dataloader = dict(dataset=_base_.mnist_lt_train)
val_dataloader = dict(dataset=_base_.mnist_lt_val)
test_dataloader = dict(dataset=_base_.mnist_lt_test)
# DB: better than ASL (CSRA's choice here) on MNIST-LT's validation for this
# head (seed 0; RAL and BCE not measured for it; docs/results_mnistlt.md)
model = dict(backbone=_base_.mnist_lt_backbone,
             head=dict(loss=_base_.dbloss_loss))
