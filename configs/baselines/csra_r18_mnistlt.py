# csra_r18_demo.py on MNIST-LT (real digits; configs/_base_/datasets/mnist_lt.py)
_base_ = ['./csra_r18_demo.py', '../_base_/datasets/mnist_lt.py']
train_dataloader = dict(dataset=_base_.mnist_lt_train)
val_dataloader = dict(dataset=_base_.mnist_lt_val)
test_dataloader = dict(dataset=_base_.mnist_lt_test)
# ASL: the best validation mAP for CSRA on MNIST-LT among
# BCE, ASL, DB and RAL (docs/baselines.md, "Attention-head baselines")
model = dict(backbone=_base_.mnist_lt_backbone,
             head=dict(loss=_base_.asl_loss))
