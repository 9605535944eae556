# Demo scale of the TDAF 3D-ResNet-50 (3D ANAR-5, 3 flows) on the generated
# motion clips: the 3D-ResNet-50 demo recipe with the TDAF backbone.
_base_ = '../../baselines/demo/resnet3d50_demo.py'

model = dict(backbone=dict(type='td_plugins.TDAFResNet3d', num_flows=3,
                           anar=5, eta=0.5, dsf='avg_pool'))
