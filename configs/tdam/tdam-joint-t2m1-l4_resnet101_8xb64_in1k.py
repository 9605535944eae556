# TDAM-ResNet-101, TDjoint, T = 2, m = 1, layer4 only ("TDjoint (L4)"):
# 45,937,704 parameters.
_base_ = './tdam-joint-t2m1_resnet101_8xb64_in1k.py'

model = dict(backbone=dict(td_stages=(3, )))
