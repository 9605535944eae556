# AW-ResNet-50 on CIFAR-100 (3x3 stride-1 stem, no max-pool, as the paper's
# count implies): 23,870,460 parameters (the paper's 23.87M); mmpretrain's
# stock CIFAR-100 ResNet-50 recipe.
# The AW branches keep the paper's BN (after eq. 7): 16 images per GPU
# give each branch BN 16 samples (x 9 kernel taps) per channel.
_base_ = 'mmpretrain::resnet/resnet50_8xb16_cifar100.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='td_plugins.AWResNet',
                           depth=50, stem='cifar', out_indices=(3, ),
                           attn_norm_cfg=dict(type='BN')))
