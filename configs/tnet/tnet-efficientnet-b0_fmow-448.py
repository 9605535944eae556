# TNet on fMoW, stage 1 (Papadopoulos et al., NeurIPS 2021, section 5.2;
# official fMoW/results_replication.txt; shared/spec/methods.md 4.1-4.4):
# mmpretrain's EfficientNet-B0 (Keras-like: BN eps 1e-3 and momentum 0.01,
# swish, stochastic depth 0.3) as the feature extractor at a base resolution
# of 224, 448 x 448 inputs, a 3 x 3 grid with 50 % cells (224 px, stride 112),
# 2 levels, 2 locations (top-k). The location features are the output of the
# third 80-channel block (the official "part5 block 3", mmpretrain's
# backbone.layers.4.2, 14 x 14 at 224) at rows/columns 2, 6, 10; the SE
# location module; the additive positional module (320-d sin/cos, swish);
# dropout 0.5 before the 1280 -> 62 classifier; lambda_c = lambda_r = 0.2,
# lambda_f = 0.1; Adam 1e-3, x0.1 at 80 %, 40 epochs, 4 GPUs x 16.
# 4,559,591 "parameters" counted as the official Keras code counts them
# (weights + BN moving mean and variance): 4,517,575 trainable parameters +
# 42,016 BN statistics.
#
# fMoW is not part of OpenMMLab: convert it (e.g. the official crop_fMoW.py
# crops, one folder per class) to mmpretrain's CustomDataset layout and point
# data_root below at it. The paths are placeholders.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

input_size = 448
model = dict(
    type='td_plugins.TNet',
    backbone=dict(type='EfficientNet', arch='b0', out_indices=(6, ),
                  drop_path_rate=0.3,
                  norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01)),
    num_classes=62,
    feat_dim=1280,
    grid_size=3,
    overlap=0.5,
    base_resolution=224,
    num_levels=2,
    locations_per_level=[2],
    selection='topk',
    grid_index='layers.4.2',   # part5 block 3: 80 ch, 14 x 14 at 224 ...
    grid_slice=(2, None, 4),   # ... rows/cols 2, 6, 10: the 3 x 3 grid
    feature_index=0,           # the 1280-ch head conv, average-pooled
    pos_dim=320,               # ls_dim 1280 / pos_dim_divisor 4
    positional_variant='add',
    location_variant='se',
    dropout=0.5,
    fc_init='efficientnet',
    loss=dict(type='td_plugins.TNetLoss', lambda_c=0.2, lambda_r=0.2,
              lambda_f=0.1),
    num_samples=1,
    input_size=input_size)

data_preprocessor = dict(num_classes=62, mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5], to_rgb=True)

# Official input_fMoW.py (as ImageNet): 85-100 % area crops, aspect 0.5-2,
# flip, colour distortion (approximated by ColorJitter); evaluation resizes
# the whole image (bilinear).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=input_size,
         crop_ratio_range=(0.85, 1.0), aspect_ratio_range=(0.5, 2.0),
         backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.125, contrast=0.5, saturation=0.5,
         hue=0.2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), backend='pillow',
         interpolation='bilinear'),
    dict(type='PackInputs'),
]
data_root = 'data/fmow/'  # placeholder: CustomDataset folders/lists
train_dataloader = dict(
    batch_size=16, num_workers=5,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 ann_file='meta/train.txt', data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=5,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 ann_file='meta/val.txt', data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[32],
                       gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=40, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
