# TDAM-ResNet-101, TDjoint, T = 2, m = 1: TD in layer3 blocks
# {0, 1, 2, 8, 13, 18, 22} (what the official script's list amounts to; the
# paper says "10 alternating blocks") and all of layer4: 46,754,856
# parameters. The official evaluation crops ResNet-101 at crop_pct 0.95
# (timm default_cfgs['tdresnet101']): transforms_imagenet_eval resizes the
# shorter side to int(floor(224 / 0.95)) = 235, bicubic, then crops 224.
_base_ = './_base_/tdam-resnet_8xb64_in1k.py'

model = dict(backbone=dict(depth=101))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=235, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
