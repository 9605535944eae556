# Kinetics-400 action recognition with a 3D TDAM-ResNet-50 (TDjoint, T = 2,
# m = 1, TD in layer3 and layer4, attention pooled over T, H and W): the
# 3D-ResNet-50 baseline of configs/baselines (Hara et al., 16x112x112 clips)
# with its blocks turned into TDAM blocks; built on mmaction2's ResNet3d, so
# 2D ImageNet weights inflate into it (pretrained2d=True) and each per-step BN
# starts as a copy of its step-0 BN when the checkpoint has none.
_base_ = '../baselines/resnet3d50-3x3x3_8xb8-16x1x1-100e_kinetics400-rgb.py'

model = dict(backbone=dict(type='td_plugins.TDAMResNet3d', td_mode='joint',
                           feedback_distance=1, num_steps=2))
