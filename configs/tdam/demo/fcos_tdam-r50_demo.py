# Demo scale of configs/tdam/fcos_tdam-r50_fpn_gn-head_1x_coco.py on the
# generated shapes set: the FCOS demo recipe with the TDAM-ResNet-50
# backbone, from scratch on the CPU (so BN trains and nothing is frozen).
_base_ = '../../baselines/demo/fcos_r50_fpn_demo.py'

model = dict(backbone=dict(
    _delete_=True,
    type='td_plugins.TDAMResNet',
    depth=50,
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    norm_eval=False))
