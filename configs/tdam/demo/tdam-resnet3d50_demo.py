# Demo scale of the 3D TDAM-ResNet-50 on the generated motion clips: the
# 3D-ResNet-50 demo recipe with TDAM blocks in layer3 and layer4.
_base_ = '../../baselines/demo/resnet3d50_demo.py'

model = dict(backbone=dict(type='td_plugins.TDAMResNet3d', td_mode='joint',
                           feedback_distance=1, num_steps=2))
