# TDAM-ResNet-34, TDjoint, T = 2, m = 2 (the released ResNet-34 setting):
# 22,074,152 parameters; 100 cosine epochs + 10 cool-down as the official
# ResNet-34 example.
_base_ = './tdam-joint-t2m2_resnet18_8xb64_in1k.py'

model = dict(backbone=dict(depth=34))
