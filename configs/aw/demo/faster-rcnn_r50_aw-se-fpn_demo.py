# Demo scale of configs/aw/faster-rcnn_r50_aw-se-fpn_1x_coco.py: the Faster
# R-CNN demo recipe (generated shapes, 160 px, from scratch on the CPU) with
# the AW-SE-FPN neck.
# Norms (docs/aw.md, "Normalisation in detection"): the backbone's BNs as
# in the baseline config this one is compared with; the AW branches use
# GroupNorm with one group per sample instead of the paper's BN, which
# at a few images per GPU would normalise 2 values per channel.
_base_ = '../../baselines/demo/faster-rcnn_r50_fpn_demo.py'

model = dict(neck=dict(type='td_plugins.AWFPN', attention='se',
                       attn_norm_cfg=dict(type='GN', num_groups=1)))
