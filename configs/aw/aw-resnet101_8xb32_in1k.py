# AW-ResNet-101: 44,862,880 parameters. The paper prints 44.95M (+0.40M over
# ResNet-101), which no per-conv formula that also gives AW-ResNet-50's
# +0.16M reproduces (shared/spec/methods.md section 3.4; docs/aw.md).
# The AW branches keep the paper's BN (after eq. 7): 32 images per GPU
# give each branch BN 32 samples (x 9 kernel taps) per channel.
_base_ = 'mmpretrain::resnet/resnet101_8xb32_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='td_plugins.AWResNet',
                           depth=101, out_indices=(3, ),
                           attn_norm_cfg=dict(type='BN')))
