# The 3D-ResNet-50 of Hara, Kataoka and Satoh ("Can Spatiotemporal 3D CNNs
# Retrace the History of 2D CNNs and ImageNet?", CVPR 2018), the backbone the
# TDAF paper uses for action recognition, built from mmaction2's ResNet3d:
# a 7x7x7 stem (temporal stride 1), a stride-2 max-pool (time too), 3x3x3
# convolutions in every bottleneck (inflate_style='3x3x3': conv1 1x1x1, conv2
# 3x3x3, conv3 1x1x1), stride 2 in time as well as space from layer2 on (so
# 16 frames -> 8, 8, 4, 2, 1), projection shortcuts (type B), and a
# 400-way linear classifier: 46,198,976 backbone + 819,600 head =
# 47,018,576 parameters (checked by tests/test_configs).
# One difference to Hara's code remains: mmaction's stem max-pool has a
# 1x3x3 kernel (Hara's is 3x3x3); it has no parameters.
# Clips: 16 consecutive frames (16x1x1) at 112x112, as in Hara et al.
_base_ = 'mmaction::recognition/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py'  # noqa: E501
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet3d',
        depth=50,
        pretrained=None,
        pretrained2d=False,
        in_channels=3,
        base_channels=64,
        conv1_kernel=(7, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=2,
        with_pool2=False,  # Hara et al. have no extra temporal pool
        spatial_strides=(1, 2, 2, 2),
        temporal_strides=(1, 2, 2, 2),
        inflate=(1, 1, 1, 1),
        inflate_style='3x3x3',
        conv_cfg=dict(type='Conv3d'),
        norm_cfg=dict(type='BN3d', requires_grad=True),
        norm_eval=False,
        zero_init_residual=False),
    cls_head=dict(num_classes=400, in_channels=2048))

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='MultiScaleCrop', input_size=112, scales=(1, 0.8),
         random_crop=False, max_wh_scale_gap=0),
    dict(type='Resize', scale=(112, 112), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='CenterCrop', crop_size=112),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=10,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 128)),
    dict(type='ThreeCrop', crop_size=128),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
