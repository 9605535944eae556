# AW-ResNet-50 (Zhu et al., ICANN 2021): every bottleneck 3x3 conv is an
# AW-convolution; mmpretrain's stock ResNet-50 ImageNet recipe (the paper's
# training settings are in a supplement that is not available).
# 25,722,240 parameters (the paper's 25.72M).
# The AW branches keep the paper's BN (after eq. 7): 32 images per GPU
# give each branch BN 32 samples (x 9 kernel taps) per channel.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='td_plugins.AWResNet',
                           depth=50, out_indices=(3, ),
                           attn_norm_cfg=dict(type='BN')))
