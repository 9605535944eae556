# Demo scale of the ResNet-50 ImageNet baseline on the generated shapes
# (data/demo/cls, an ImageNet-style folder with meta/ list files, 4 classes),
# from scratch on the CPU at 64x64, few iterations; top-1 only (4 classes).
_base_ = '../resnet50_8xb32_in1k.py'

data_root = 'data/demo/cls/'
max_iters = 100
classes = ('circle', 'square', 'triangle', 'cross')

model = dict(head=dict(num_classes=4, topk=(1, )))
data_preprocessor = dict(num_classes=4)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=16, num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 ann_file='meta/train.txt', data_prefix='train',
                 classes=classes, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=2,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root,
                 ann_file='meta/val.txt', data_prefix='val',
                 classes=classes, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.1, by_epoch=False),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=max_iters,
         eta_min=1e-4)
]
optim_wrapper = dict(optimizer=dict(lr=0.05))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2),
    logger=dict(interval=20))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
