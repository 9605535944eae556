# Demo scale of the Faster R-CNN R50-FPN baseline on the generated shapes set
# (data/demo/coco_det, 3 classes, 160x160), from scratch on the CPU: BN
# trains, no frozen stage, no pretrained weights, few iterations.
_base_ = '../faster-rcnn_r50_fpn_1x_coco.py'

data_root = 'data/demo/coco_det/'
metainfo = dict(classes=('circle', 'square', 'triangle'),
                palette=[(220, 20, 60), (0, 128, 255), (0, 200, 0)])
img_scale = (160, 160)
max_iters = 300

model = dict(
    backbone=dict(frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False, init_cfg=None),
    roi_head=dict(bbox_head=dict(num_classes=3)),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100),
                  rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    dataset=dict(
        data_root=data_root, metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters,
         eta_min=1e-4)
]
optim_wrapper = dict(optimizer=dict(lr=0.02, momentum=0.9, weight_decay=1e-4),
                     clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2),
    logger=dict(interval=20))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
