# FCOS (GN head) on COCO with a TDAM-ResNet-50 backbone (TDjoint, T = 2,
# m = 1, TD in layer3 and layer4), mmdet's stock 1x schedule. The TDAM paper
# evaluates downstream only on CUB/Dogs and multi-label COCO; this is the
# plain backbone swap. The backbone starts from torchvision's ImageNet
# ResNet-50 (pytorch style, so ImageNet mean/std in RGB): the attention is new
# and each per-step BN starts as a copy of its step-0 BN
# (step_norms_from_step0). For the paper's ImageNet-trained TDAM weights,
# convert the official checkpoint with
# tools/model_converters/tdam_official_to_td_plugins.py and point init_cfg at
# it with prefix='backbone.' and step_norms_from_step0=False.
# Normalisation: the baseline's rule (mmdet's FCOS-caffe: every BN frozen,
# affine included, norm_cfg requires_grad=False, norm_eval=True,
# frozen_stages=1); the per-step BNs are frozen copies of their step-0 BN.
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='td_plugins.TDAMResNet',
        depth=50,
        td_mode='joint',
        feedback_distance=1,
        num_steps=2,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        step_norms_from_step0=True,
        # per-step BNs frozen too (exact copies of bn3 under this rule):
        # docs/tdam.md, "Downstream normalisation"; True lets them measure
        # their own statistics.
        step_norms_train=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))
