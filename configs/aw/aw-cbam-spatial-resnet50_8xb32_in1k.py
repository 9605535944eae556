# AW-CBAM-ResNet-50, "CBAM (Spatial)": average-pooled channel attention plus
# CBAM's spatial attention (7x7 conv + BN); 28,254,832 parameters.
_base_ = './aw-resnet50_8xb32_in1k.py'

model = dict(backbone=dict(attention='cbam-spatial'))
