# The SimpleBaseline demo recipe on real people: ../shared/data/coco_mini
# person keypoints (COCO 2017, 17 keypoints; people without labelled
# keypoints are skipped by mmpose). Used by the integration tests when
# ../shared exists; run from the repository root.
_base_ = '../demo/td-hm_res50_demo.py'

data_root = '../shared/data/coco_mini/'
train_dataloader = dict(dataset=dict(
    data_root=data_root,
    ann_file='annotations/person_keypoints_train2017.json',
    data_prefix=dict(img='train2017/')))
val_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file='annotations/person_keypoints_val2017.json',
    data_prefix=dict(img='val2017/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
