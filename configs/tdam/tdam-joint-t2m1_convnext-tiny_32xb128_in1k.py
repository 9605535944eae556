# TDAM ConvNeXt-T (TDjoint, T = 2, m = 1, every block of stages 3 and 4, no
# per-step norm, as the official tdconvnext.py) on mmpretrain's stock
# ConvNeXt-T ImageNet recipe (the paper trains ConvNeXt with its own recipe):
# 31,105,096 parameters with the 1000-way head.
_base_ = 'mmpretrain::convnext/convnext-tiny_32xb128_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(type='td_plugins.TDAMConvNeXt', td_mode='joint',
                           feedback_distance=1, num_steps=2,
                           td_stages=(2, 3)))
