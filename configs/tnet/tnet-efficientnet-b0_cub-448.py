# TNet-B0 on CUB-200-2011 (Papadopoulos et al., NeurIPS 2021, section 5.3;
# official CUB/results_replication.txt; shared/spec/methods.md 4.1-4.4):
# ImageNet-pretrained EfficientNet-B0 (the NoisyStudent weights, as the
# official run) at a base resolution of 224, 448 x 448 inputs, a 5 x 5 grid
# with cells spanning 35 % of a side (157 px, stride 73, 1 px pad), 2 levels,
# 5 locations in training, the feature weighting module instead of the mean,
# dropout 0.75, stochastic depth 0.5, lambda_c = lambda_r = 0.3,
# lambda_f = 0.1, 200 epochs, and two Adam learning rates: 1e-3 for the new
# modules (classifier, feature weighting, positional and location modules)
# and 1e-4 for the backbone, x0.1 at 80 %. The official L2 of 1e-4 on all
# but BN weights (loss term l2 * sum(w^2)) is Adam weight decay 2e-4 with no
# decay on BN. The location features are the output of the first
# 80-channel block (backbone.layers.4.0, 14 x 14 at 224) at rows/columns
# 2, 4, 6, 8, 10. The official evaluation command attends 3 locations
# (test_cfg below). Not included: the official extra contrastive loss
# (lambda 100, margin 0.4).
# 5,558,450 "parameters" counted as the official Keras code counts them
# (weights + BN moving mean and variance).
_base_ = [
    'mmpretrain::_base_/datasets/cub_bs8_448.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
input_size = 448

# Official CUB/input_cub.py (docs/tnet.md, "CUB input"): pixels in [-1, 1];
# training crops 85-100 % of the image (aspect 0.5-2, TF's
# sample_distorted_bounding_box), resizes to 448 x 448 with one of the 8 TF
# resize methods, flips, translates by up to 10 % of each side and rotates
# by up to 20 degrees (nearest, zero fill), no colour operation; evaluation
# resizes the whole image to 448 x 448 (bilinear, no antialiasing, no crop).
data_preprocessor = dict(num_classes=200, mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='td_plugins.DistortedBBoxCrop', area_range=(0.85, 1.0),
         aspect_ratio_range=(0.5, 2.0), min_object_covered=0.1,
         max_attempts=50),
    dict(type='td_plugins.RandomInterpolationResize',
         scale=(input_size, input_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='td_plugins.RandomTranslateRotate', max_translate_ratio=0.1,
         max_rotate_degree=20.0, interpolation='nearest', fill=0),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False,
         interpolation='bilinear', backend='cv2'),
    dict(type='PackInputs'),
]

model = dict(
    type='td_plugins.TNet',
    backbone=dict(
        type='EfficientNet', arch='b0', out_indices=(6, ),
        drop_path_rate=0.5,
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        init_cfg=dict(
            type='Pretrained', prefix='backbone',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'efficientnet/efficientnet-b0_3rdparty-ra-noisystudent_in1k_'
            '20221103-75cd08d3.pth')),
    num_classes=200,
    feat_dim=1280,
    grid_size=5,
    overlap=0.35,
    base_resolution=224,
    num_levels=2,
    locations_per_level=[5],
    grid_index='layers.4.0',
    grid_slice=(2, 12, 2),
    feature_index=0,
    pos_dim=320,
    positional_variant='add',
    location_variant='se',
    feature_weighting=True,
    dropout=0.75,
    fc_init='efficientnet',
    loss=dict(type='td_plugins.TNetLoss', lambda_c=0.3, lambda_r=0.3,
              lambda_f=0.1),
    num_samples=1,
    input_size=input_size,
    test_cfg=dict(locations_per_level=[3]))

train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=2e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0,
                       custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[160],
                       gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
