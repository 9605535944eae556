# FCOS with a TDAF-ResNet-50 backbone (ANAR-3, 3 recursive flows) on COCO,
# with the schedule the TDAF paper uses for FCOS: 2x, multi-scale training
# (shorter side 640-800). Pang et al., "TDAF: Top-Down Attention Framework for
# Vision Tasks", AAAI 2021, Table 4.
#
#   python tools/train.py configs/fcos_tdaf_r50.py
#
# Only the last flow's C2-C5 feed the FPN (C3-C5 are used, start_level=1).
# The backbone starts from torchvision's ImageNet ResNet-50 (pytorch style,
# so ImageNet mean/std in RGB).
#
# Normalisation (docs/tdaf.md, "Normalisation"): "All the BN layers are
# replaced by our MFBN" (the paper), with trainable affines (its parameter
# counts include them). At mmdet's 2 images per GPU, the pretrained stem and
# stage MFBNs keep their ImageNet statistics (norm_eval=True, the rule of the
# FCOS baseline, configs/baselines/fcos_r50_fpn_gn-head_ms-640-800-2x_coco.py),
# while the ANARs' MFBNs, which no checkpoint pretrains, keep training their
# per-flow statistics, synchronised over all GPUs (sync_bn: with td_plugins
# imported, mmengine turns multi-flow BN into SyncMultiFlowBatchNorm), so
# each flow's statistics see 16 images at 8 GPUs x 2.
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_ms-640-800-2x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='td_plugins.TDAFResNet',
        depth=50,
        num_flows=3,
        anar=3,
        eta=0.5,
        dsf='avg_pool',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet50')))
sync_bn = 'torch'  # multi-flow BN -> SyncMultiFlowBatchNorm (distributed)
