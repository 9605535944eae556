# Demo scale of configs/tdam/faster-rcnn_tdam-r50_fpn_1x_coco.py: the Faster
# R-CNN demo recipe with the TDAM-ResNet-50 backbone, from scratch on the CPU.
_base_ = '../../baselines/demo/faster-rcnn_r50_fpn_demo.py'

model = dict(backbone=dict(
    _delete_=True,
    type='td_plugins.TDAMResNet',
    depth=50,
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    norm_eval=False))
