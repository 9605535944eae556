# The FCOS baseline of configs/fcos_tdaf_r50.py: the same recipe (mmdet's
# FCOS GN-head, 2x schedule, multi-scale 640-800; Pang et al., AAAI 2021,
# Table 4) with mmdet's plain ResNet-50 in place of TDAF-ResNet-50: pytorch
# style from torchvision's ImageNet weights (so ImageNet mean/std in RGB),
# stem + layer1 frozen, and the same normalisation rule (docs/tdaf.md,
# "Normalisation"): the pretrained BNs keep their ImageNet statistics
# (norm_eval=True) and train their affines. It has no attention norms, so
# nothing to synchronise. mmdet's caffe FCOS
# (fcos_r50-caffe_fpn_gn-head_1x_coco.py) freezes the affines as well and
# uses caffe weights: not the same rule.
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_ms-640-800-2x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))
