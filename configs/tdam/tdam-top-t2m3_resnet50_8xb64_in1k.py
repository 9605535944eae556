# TDAM-ResNet-50, TDtop, T = 2, m = 3 (bottom = the block input; conv1-3 are
# re-run): 27,789,352 parameters, the official code's value. The paper prints
# 27.66M / 5.98 G for this row, which its own code does not reproduce
# (shared/spec/methods.md section 1.8).
_base_ = './_base_/tdam-resnet_8xb64_in1k.py'

model = dict(backbone=dict(td_mode='top', feedback_distance=3))
