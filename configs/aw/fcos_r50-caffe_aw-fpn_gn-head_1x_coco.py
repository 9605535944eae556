# FCOS R50 (GN head) with AW-FPN on COCO, mmdet's stock 1x schedule. The paper
# evaluates AW-FPN only in Faster R-CNN (section 4.3); here, as there, every
# lateral (1x1) and output (3x3) conv of the FPN is an AW-convolution. FCOS's
# two extra stride-2 convs (P6, P7 from P5) stay plain convs; set
# aw_extra_convs=True to make them AW too.
# Norms (docs/aw.md, "Normalisation in detection"): the backbone's BNs as
# in the baseline config this one is compared with; the AW branches use
# GroupNorm with one group per sample instead of the paper's BN, which
# at a few images per GPU would normalise 2 values per channel.
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(neck=dict(type='td_plugins.AWFPN', attention=None,
                       attn_norm_cfg=dict(type='GN', num_groups=1),
                       aw_extra_convs=False))
