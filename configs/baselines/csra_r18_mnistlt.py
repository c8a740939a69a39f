# csra_r18_demo.py on MNIST-LT (real digits; configs/_base_/datasets/mnist_lt.py)
_base_ = ['./csra_r18_demo.py', '../_base_/datasets/mnist_lt.py']
train_dataloader = dict(dataset=_base_.mnist_lt_train)
val_dataloader = dict(dataset=_base_.mnist_lt_val)
test_dataloader = dict(dataset=_base_.mnist_lt_test)
model = dict(backbone=_base_.mnist_lt_backbone)
