# Demo scale of configs/tdam/td-hm_tdam-r50_8xb64-210e_coco-256x192.py: the
# SimpleBaseline demo recipe (generated stick figures, 128x96) with the
# TDAM-ResNet-50 backbone, from scratch on the CPU.
_base_ = '../../baselines/demo/td-hm_res50_demo.py'

model = dict(backbone=dict(
    _delete_=True,
    type='td_plugins.TDAMResNet',
    depth=50,
    out_indices=(3, )))
