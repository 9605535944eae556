# `make demo`'s main job: FCOS with a TDAF-ResNet-18 backbone (ANAR-3, 3
# recursive flows) trained from scratch on the generated shapes set
# (data/demo/coco_det, 160x160) on the CPU. ResNet-18 rather than -50 so
# that the recursive flows fit the demo's few minutes on 2 cores; everything
# else is the FCOS demo recipe (configs/baselines/demo/fcos_r50_fpn_demo.py).
# From scratch on one process: nothing is pretrained, so every multi-flow
# BN trains (norm_eval=False), like the demo baseline's BNs; no sync_bn.
_base_ = '../../baselines/demo/fcos_r50_fpn_demo.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='td_plugins.TDAFResNet',
        depth=18,
        num_flows=3,
        anar=3,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        # From scratch: Kaiming (fan_in) ANAR last convs, not the identity
        # start meant for pretrained weights, whose 0.5 masks barely moved in
        # 300 iterations (docs/tdaf.md, "ANAR init").
        zero_init_anar=False),
    neck=dict(in_channels=[64, 128, 256, 512]))

# The ANARs (parameters ``backbone.r2dns.anars.*``) at 10x the base lr: their
# gradient reaches them only through the gate h * (g + 0.5), and at 1x their
# masks did not learn to tell objects from background in 300 iterations
# (docs/tdaf.md, "The demo's ANAR learning rate"). Not a paper setting:
# the paper trains every parameter at one lr, for 90+ epochs.
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'anars': dict(lr_mult=10.0)}))
