# TDAM-ResNet-18, TDjoint, T = 2, m = 2 (the released ResNet-18 setting):
# 11,828,776 parameters; 100 epochs as the official ResNet-34 example.
_base_ = './_base_/tdam-resnet_8xb64_in1k.py'

model = dict(backbone=dict(depth=18, feedback_distance=2),
             head=dict(in_channels=512))
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4 / 0.4, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6,
         by_epoch=True, begin=5, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
