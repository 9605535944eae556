# TDAM MobileNetV3-large: TD replaces the SE blocks of the final three
# layers, as the paper says (no official code exists; the choice of bottom =
# the depthwise output and top = the projection output is documented in
# td_plugins/models/backbones/tdam_mobilenet_v3.py), on mmpretrain's stock
# MobileNetV3-large ImageNet recipe.
_base_ = 'mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(type='td_plugins.TDAMMobileNetV3', td_mode='joint',
                           num_steps=2))
