# FCOS TDAF-R101 (ANAR-3, 3 flows); Table 4, ResNet-101 rows.
_base_ = '../fcos_tdaf_r50.py'
model = dict(backbone=dict(
    depth=101,
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
