# Demo scale of the 3D-ResNet-50 (Hara et al.) baseline on the generated
# motion clips (data/demo/action, 4 classes whose label is the direction of
# motion), from scratch on the CPU: 16-frame clips at 64x64, one clip per
# video at test time, few iterations.
_base_ = '../resnet3d50-3x3x3_8xb8-16x1x1-100e_kinetics400-rgb.py'

data_root = 'data/demo/action/'
max_iters = 60

model = dict(cls_head=dict(num_classes=4))

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(ann_file=data_root + 'train_list_videos.txt',
                 data_prefix=dict(video=data_root + 'videos'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    dataset=dict(ann_file=data_root + 'val_list_videos.txt',
                 data_prefix=dict(video=data_root + 'videos'),
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
test_evaluator = dict(type='AccMetric')

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.1, by_epoch=False),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=max_iters,
         eta_min=1e-4)
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2),
    logger=dict(interval=10))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
