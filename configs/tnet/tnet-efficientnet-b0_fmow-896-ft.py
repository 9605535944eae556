# TNet on fMoW, stage 2 (Papadopoulos et al., NeurIPS 2021, section 5.2;
# official fMoW/results_replication.txt): fine-tune the stage-1 model
# (tnet-efficientnet-b0_fmow-448.py) for 10 epochs on 896 x 896 inputs with
# 3 levels and 2 then 1 locations per grid (4 attended locations: level-2
# cells are 448 px crops resized to 224, level-3 cells 224 px crops at
# native resolution), stochastic depth 0.5, lambda_c = lambda_r = 0.05,
# lambda_f = 0.1 and per-feature terms only up to level 2 (perFReg_cap 2).
# The paper's 6-location variant: --cfg-options
# model.test_cfg.locations_per_level=[2,2]
_base_ = './tnet-efficientnet-b0_fmow-448.py'

input_size = 896
model = dict(
    backbone=dict(drop_path_rate=0.5),
    num_levels=3,
    locations_per_level=[2, 1],
    loss=dict(lambda_c=0.05, lambda_r=0.05, lambda_f=0.1, perfeat_cap=2),
    input_size=input_size)

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[8],
                       gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
# The stage-1 run (its last checkpoint; the baseline b comes with it).
load_from = 'work_dirs/tnet-efficientnet-b0_fmow-448/epoch_40.pth'
