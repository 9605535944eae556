# Demo scale of the SimpleBaseline R50 baseline on the generated stick
# figures (data/demo/coco_kpt, the 17 COCO keypoints), from scratch on the
# CPU: 128x96 crops (heatmaps 32x24), ground-truth boxes at evaluation,
# few iterations.
_base_ = '../td-hm_res50_8xb64-210e_coco-256x192.py'

data_root = 'data/demo/coco_kpt/'
max_iters = 200
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32),
             sigma=1)

model = dict(backbone=dict(init_cfg=None), head=dict(decoder=codec),
             test_cfg=dict(flip_test=False))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=16, num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root,
                 ann_file='annotations/person_keypoints_train.json',
                 data_prefix=dict(img='train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=2,
    dataset=dict(data_root=data_root,
                 ann_file='annotations/person_keypoints_val.json',
                 bbox_file=None, data_prefix=dict(img='val/'),
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=max_iters,
         eta_min=1e-5)
]
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=2,
                    save_best=None),
    logger=dict(interval=20))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
