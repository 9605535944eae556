# ImageNet-1k classification with TDAF-ResNet-50, ANAR-3, 3 flows (the paper's
# Table 3a row), on mmpretrain's stock ResNet-50 recipe; only the last flow's
# layer4 output goes to the global pooling and the linear head.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(backbone=dict(
    _delete_=True,
    type='td_plugins.TDAFResNet',
    depth=50,
    num_flows=3,
    anar=3,
    out_indices=(3, )))
