# Demo scale of configs/aw/faster-rcnn_r50_aw-cbam-fpn_1x_coco.py: the Faster
# R-CNN demo recipe (generated shapes, 160 px, from scratch on the CPU) with
# the AW-CBAM-FPN neck.
_base_ = '../../baselines/demo/faster-rcnn_r50_fpn_demo.py'

model = dict(neck=dict(type='td_plugins.AWFPN', attention='cbam'))
