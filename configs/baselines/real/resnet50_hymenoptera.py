# The ResNet-50 demo recipe on real photos: ../shared/data/hymenoptera
# (ants vs bees, 244 train + 153 val, ImageNet-style folders + lists).
_base_ = '../demo/resnet50_demo.py'

data_root = '../shared/data/hymenoptera/'
classes = ('ants', 'bees')
model = dict(head=dict(num_classes=2))
data_preprocessor = dict(num_classes=2)
train_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file='train.txt', data_prefix='train',
    classes=classes))
val_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file='val.txt', data_prefix='val',
    classes=classes))
test_dataloader = val_dataloader
