# Faster R-CNN R50-FPN on COCO with a TDAM-ResNet-50 backbone (TDjoint,
# T = 2, m = 1), mmdet's stock 1x schedule; the backbone swap of
# fcos_tdam-r50_fpn_gn-head_1x_coco.py (same initialisation notes).
# Normalisation: the baseline's rule (mmdet's Faster R-CNN: BN statistics
# frozen, norm_eval=True, affine trained, frozen_stages=1).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='td_plugins.TDAMResNet',
        depth=50,
        td_mode='joint',
        feedback_distance=1,
        num_steps=2,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        step_norms_from_step0=True,
        # per-step BNs frozen too (copies of bn3; their trained affine
        # absorbs the per-channel mismatch): docs/tdam.md, "Downstream
        # normalisation"; True lets them measure their own statistics.
        step_norms_train=False,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))
