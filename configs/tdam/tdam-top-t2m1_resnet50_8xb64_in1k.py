# TDAM-ResNet-50, TDtop, T = 2, m = 1: 27,056,168 parameters.
_base_ = './_base_/tdam-resnet_8xb64_in1k.py'

model = dict(backbone=dict(td_mode='top'))
