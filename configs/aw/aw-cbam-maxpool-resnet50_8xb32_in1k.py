# AW-CBAM-ResNet-50, "CBAM (MaxPool)": CBAM's channel attention with average
# and max pooling, no spatial attention; 28,253,232 parameters.
_base_ = './aw-resnet50_8xb32_in1k.py'

model = dict(backbone=dict(attention='cbam-maxpool'))
