# ResNet-50 ImageNet-1k classification: mmpretrain's stock config, unchanged
# (custom_imports: weights-only checkpoint loading, see td_plugins.utils).
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
