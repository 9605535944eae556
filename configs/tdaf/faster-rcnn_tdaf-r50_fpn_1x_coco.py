# Faster R-CNN R50-FPN with a TDAF-ResNet-50 backbone (ANAR-3, 3 flows).
# The paper reports FCOS only; this applies the same backbone swap to mmdet's
# stock Faster R-CNN (torchvision ImageNet weights). Normalisation as in
# configs/fcos_tdaf_r50.py and mmdet's baseline (docs/tdaf.md): every BN a
# multi-flow BN with trainable affines; the pretrained ones keep their
# ImageNet statistics (norm_eval=True, as the baseline's BNs), the ANARs'
# train per-flow statistics synchronised over the GPUs (sync_bn).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='td_plugins.TDAFResNet',
        depth=50,
        num_flows=3,
        anar=3,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))
sync_bn = 'torch'  # multi-flow BN -> SyncMultiFlowBatchNorm (distributed)
