# SimpleBaseline top-down heatmap pose estimation (COCO keypoints, 256x192,
# 210 epochs; mmpose's stock recipe) with a TDAM-ResNet-50 backbone
# (TDjoint, T = 2, m = 1), started from torchvision's ImageNet ResNet-50 with
# each per-step BN copied from its step-0 BN.
_base_ = '../baselines/td-hm_res50_8xb64-210e_coco-256x192.py'

model = dict(backbone=dict(
    _delete_=True,
    type='td_plugins.TDAMResNet',
    depth=50,
    td_mode='joint',
    feedback_distance=1,
    num_steps=2,
    out_indices=(3, ),
    step_norms_from_step0=True,
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
