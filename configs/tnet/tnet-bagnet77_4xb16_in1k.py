# TNet on ImageNet (Papadopoulos et al., NeurIPS 2021, section 5.1), as the
# official replication command trains it (shared/spec/methods.md 4.1-4.4):
# BagNet-77 feature extractor (no BN, leaky ReLU, spatial dropout keep 0.5
# after the 512-d "lowD" part), base resolution 77, 224 x 224 inputs, a 5 x 5
# grid of cells spanning 34.375 % of a side (77 px, stride 37, 1 px zero pad
# top/left), 2 levels, 3 locations picked by top-k, the location module with
# the global context and meshgrid channels, the concat positional module
# (512-d sin/cos of (y, x, s)), the official loss (lambda_c = lambda_r = 0.3,
# lambda_f = 0.1, EMA baseline), Adam 1e-4 constant and x0.1 at 80 % of
# training, 200 epochs, 4 GPUs x 16. Pixels are scaled to [-1, 1].
# 21,859,949 parameters (BagNet-77 20,033,664 without its head + location
# 788,485 + positional 524,800 + classifier 513,000).
#
# Test with other numbers of locations (Table 1: 0..5) without retraining:
#   --cfg-options model.test_cfg.locations_per_level=[5]
#   --cfg-options model.test_cfg.num_levels=1          (0 locations)
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    type='td_plugins.TNet',
    backbone=dict(type='td_plugins.BagNet', out_indices=(3, 5),
                  drop_rate=0.5),
    num_classes=1000,
    feat_dim=512,
    grid_size=5,
    overlap=0.34375,
    base_resolution=77,
    num_levels=2,
    locations_per_level=[3],
    selection='topk',
    grid_index=0,           # part4 map (1024 ch, 9 x 9 at 77 px) ...
    grid_slice=(0, None, 2),  # ... strided by 2: the 5 x 5 grid
    feature_index=1,        # part6 map (512 ch), average-pooled
    pos_dim=512,
    positional_variant='concat',
    location_variant='context',
    dropout=0.0,            # the dropout is BagNet's (drop_rate above)
    fc_init='glorot_normal',
    loss=dict(type='td_plugins.TNetLoss', lambda_c=0.3, lambda_r=0.3,
              lambda_f=0.1),
    num_samples=1,
    input_size=224)

data_preprocessor = dict(num_classes=1000, mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5], to_rgb=True)

# Official input_imagenet.py: a crop of 85-100 % of the area with aspect
# ratio 0.5-2, resized to 224 x 224, flip, colour distortion; evaluation
# resizes the whole image to 224 x 224 (no centre crop). The official random
# choice among 8 resize methods and the 5 orderings of the colour ops are
# approximated by bilinear resizing and ColorJitter.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.85, 1.0),
         aspect_ratio_range=(0.5, 2.0), backend='pillow',
         interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.125, contrast=0.5, saturation=0.5,
         hue=0.2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
# --lr_scedule_1step: constant, then x lr_decay_factor (0.1) at 80 %.
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[160],
                       gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
