# TDAM-ResNet-18, TDjoint, T = 2, m = 2 (the released ResNet-18 setting):
# 11,828,776 parameters; 100 cosine epochs + 10 cool-down as the official
# ResNet-34 example.
_base_ = './_base_/tdam-resnet_8xb64_in1k.py'

model = dict(backbone=dict(depth=18, feedback_distance=2),
             head=dict(in_channels=512))
cosine_epochs = 100  # the official ResNet-34 example: --epochs 100
max_epochs = cosine_epochs + 10  # + timm's default 10 cool-down epochs
param_scheduler = dict(_delete_=True, type='td_plugins.TimmCosineLR',
                       t_initial=cosine_epochs, warmup_epochs=5,
                       warmup_lr=1e-4, min_lr=1e-6)
train_cfg = dict(max_epochs=max_epochs)
