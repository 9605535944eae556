# TDAF-ResNet-50, ANAR-3, 3 flows on ImageNet-1k with the paper's data
# protocol (TDAF, ImageNet section): training images resized with their
# shorter side drawn uniformly from [256, 480], a random 224 x 224 crop of
# the image or its horizontal flip; evaluation of Table 3a by 10-crop test
# (the centre and four corner 224 crops of the image resized to shorter side
# 256, and their flips; class scores averaged). mmpretrain 1.2 has no
# 10-crop test: td_plugins.FivePointCrop cuts the five crops, mmcv's
# TestTimeAug adds the flips and mmpretrain's AverageClsScoreTTA averages:
#   python tools/test.py CONFIG CHECKPOINT --tta      (10-crop, the paper's)
#   python tools/test.py CONFIG CHECKPOINT            (1-crop, centre 224)
_base_ = './tdaf-r50-anar3-3f_8xb32_in1k.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # one shorter side per image, uniform over the integers 256..480
    dict(type='RandomChoiceResize', scales=list(range(256, 481)),
         resize_type='ResizeEdge', edge='short'),
    dict(type='RandomCrop', crop_size=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

ten_crop_positions = ('center', 'top_left', 'top_right', 'bottom_left',
                      'bottom_right')
tta_model = dict(type='AverageClsScoreTTA')
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='td_plugins.FivePointCrop', crop_size=224,
                   position=p) for p in ten_crop_positions],
             [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
              dict(type='RandomFlip', prob=1.0, direction='horizontal')],
             [dict(type='PackInputs')],
         ]),
]
