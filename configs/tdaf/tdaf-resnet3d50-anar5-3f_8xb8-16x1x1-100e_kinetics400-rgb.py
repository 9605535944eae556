# Kinetics-400 action recognition with the TDAF version of Hara et al.'s
# 3D-ResNet-50 (3D ANAR-5, 3 recursive flows; the DSF halves T, H and W),
# 16-frame clips at 112x112: the TDAF paper's Table 6 setting. Everything
# but the backbone type and TDAF's arguments comes from the 3D-ResNet-50
# baseline (configs/baselines/resnet3d50-...py), so ImageNet weights can be
# inflated in with model.backbone.pretrained=<2D checkpoint> and
# pretrained2d=True.
# Normalisation (docs/tdaf.md): every BN3d is a multi-flow BN training
# per-flow statistics on each GPU's 8 clips (norm_eval=False), the rule of
# the baseline's BN3d layers (Hara et al. train per-GPU BN); no sync_bn.
_base_ = '../baselines/resnet3d50-3x3x3_8xb8-16x1x1-100e_kinetics400-rgb.py'

model = dict(backbone=dict(type='td_plugins.TDAFResNet3d', num_flows=3,
                           anar=5, eta=0.5, dsf='avg_pool'))
