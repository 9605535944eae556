# Demo scale of configs/fcos_tdaf_r50.py on the generated shapes set: the
# FCOS demo recipe with the TDAF-ResNet-50 backbone (ANAR-3, 3 flows), from
# scratch on the CPU.
# From scratch on one process: nothing is pretrained, so every multi-flow
# BN trains (norm_eval=False), like the demo baseline's BNs; no sync_bn.
_base_ = '../../baselines/demo/fcos_r50_fpn_demo.py'

model = dict(backbone=dict(
    _delete_=True,
    type='td_plugins.TDAFResNet',
    depth=50,
    num_flows=3,
    anar=3,
    out_indices=(0, 1, 2, 3),
    frozen_stages=-1,
    norm_eval=False))
