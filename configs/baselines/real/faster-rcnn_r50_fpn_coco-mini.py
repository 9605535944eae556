# The Faster R-CNN demo recipe on real images: ../shared/data/coco_mini
# (80 train + 79 val COCO 2017 images, the 80 COCO classes). Used by the
# integration tests when ../shared exists; run from the repository root.
_base_ = '../demo/faster-rcnn_r50_fpn_demo.py'

data_root = '../shared/data/coco_mini/'
img_scale = (320, 320)
model = dict(roi_head=dict(bbox_head=dict(num_classes=80)))
train_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=None,
    ann_file='annotations/instances_train2017.json',
    data_prefix=dict(img='train2017/')))
val_dataloader = dict(dataset=dict(
    data_root=data_root, metainfo=None,
    ann_file='annotations/instances_val2017.json',
    data_prefix=dict(img='val2017/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
