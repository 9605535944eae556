# TDAM ImageNet-1k recipe (Jaiswal et al., ECCV 2022), as the official timm
# training script runs it (shared/spec/methods.md section 1.7): global batch
# 512 (8 GPUs x 64), SGD with Nesterov momentum 0.9, lr 0.4, weight decay
# 2e-5 and none on 1-D parameters (BN affines, biases), 5 warm-up epochs from
# lr 1e-4, cosine to 1e-6 over 150 epochs, label smoothing 0.1,
# RandomResizedCrop (0.08-1, 3/4-4/3), flip, colour jitter 0.4, per-pixel
# random erasing with p 0.5; evaluation resizes to 224 / 0.875 (bicubic) and
# centre-crops 224. The official script trains with AMP on GPUs; add
# optim_wrapper=dict(type='AmpOptimWrapper') for that.
#
# The model is td_plugins.TDAMClassifier: mmpretrain's ImageClassifier whose
# predictions also carry the per-step outputs, so the evaluator reports the
# standard top-1/top-5 (accuracy/*, tdam/final_step/*) and the paper's
# any-of-T IoU-filtered protocol (tdam/any_step_iou_filtered/*).
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    type='td_plugins.TDAMClassifier',
    backbone=dict(
        _delete_=True,
        type='td_plugins.TDAMResNet',
        depth=50,
        td_mode='joint',
        feedback_distance=1,
        num_steps=2,
        reduction=16,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(_delete_=True, type='LabelSmoothLoss',
                  label_smooth_val=0.1),
        topk=(1, 5)))

bgr_mean = [103.53, 116.28, 123.675]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
         aspect_ratio_range=(3. / 4., 4. / 3.), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomErasing', erase_prob=0.5, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=bgr_mean,
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='Accuracy', topk=(1, 5)),
    dict(type='td_plugins.AnyStepAccuracy', topk=(1, 5)),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.4, momentum=0.9, nesterov=True,
                   weight_decay=2e-5),
    paramwise_cfg=dict(flat_decay_mult=0.0))
max_epochs = 150
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4 / 0.4, by_epoch=True, begin=0,
         end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6,
         by_epoch=True, begin=5, end=max_epochs),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
auto_scale_lr = dict(base_batch_size=512)
