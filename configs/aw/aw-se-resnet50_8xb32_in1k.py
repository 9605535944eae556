# AW-SE-ResNet-50: AW-convolutions plus an SE block after the last BN of each
# bottleneck; 28,253,232 parameters (the paper's 28.25M).
_base_ = './aw-resnet50_8xb32_in1k.py'

model = dict(backbone=dict(attention='se'))
