# Demo scale of configs/aw/fcos_r50-caffe_aw-fpn_gn-head_1x_coco.py: the FCOS
# demo recipe (generated shapes, 160 px, from scratch on the CPU) with the
# AW-FPN neck.
_base_ = '../../baselines/demo/fcos_r50_fpn_demo.py'

model = dict(neck=dict(type='td_plugins.AWFPN', attention=None))
