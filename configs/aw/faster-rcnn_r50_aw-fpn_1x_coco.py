# Faster R-CNN R50 with AW-FPN on COCO, mmdet's stock 1x schedule
# (Zhu et al., ICANN 2021, section 4.3; spec section 3.3): every lateral (1x1)
# and output (3x3) conv of the FPN is an AW-convolution.
# Backbone, RPN, RoI head, data and schedule are the stock ones; a stock FPN
# checkpoint loads into the neck with exactly the attention keys missing.
# Norms (docs/aw.md, "Normalisation in detection"): the backbone's BNs as
# in the baseline config this one is compared with; the AW branches use
# GroupNorm with one group per sample instead of the paper's BN, which
# at a few images per GPU would normalise 2 values per channel.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(neck=dict(type='td_plugins.AWFPN', attention=None,
                       attn_norm_cfg=dict(type='GN', num_groups=1)))
