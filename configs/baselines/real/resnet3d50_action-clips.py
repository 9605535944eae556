# The 3D-ResNet-50 demo recipe on real clips: ../shared/data/action_clips
# (5 clips, one per class, .avi and .mp4). Train and test on the same list;
# this checks decoding and the pipeline on real video, not generalisation.
_base_ = '../demo/resnet3d50_demo.py'

data_root = '../shared/data/action_clips/'
model = dict(cls_head=dict(num_classes=5))
train_dataloader = dict(dataset=dict(
    ann_file=data_root + 'video_list.txt',
    data_prefix=dict(video=data_root + 'videos')))
val_dataloader = dict(dataset=dict(
    ann_file=data_root + 'video_list.txt',
    data_prefix=dict(video=data_root + 'videos')))
test_dataloader = val_dataloader
