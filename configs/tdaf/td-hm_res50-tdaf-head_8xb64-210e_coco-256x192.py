# SimpleBaseline (ResNet-50, COCO keypoints, 256x192) with its three
# deconvolution layers turned into TDAF recursive flows (3 flows, ANAR-3),
# the TDAF paper's pose setting. The backbone stays mmpose's ResNet-50; set
# model.backbone to td_plugins.TDAFResNet for TDAF in both.
# Normalisation (docs/tdaf.md): the head's multi-flow BNs train per-flow
# statistics on each GPU's 64 images, as the baseline's BNs do (mmpose's
# SimpleBaseline recipe, per-GPU BN); no sync_bn in either.
_base_ = '../baselines/td-hm_res50_8xb64-210e_coco-256x192.py'

model = dict(head=dict(type='td_plugins.TDAFHeatmapHead', num_flows=3,
                       anar=3, eta=0.5, dsf='avg_pool'))
