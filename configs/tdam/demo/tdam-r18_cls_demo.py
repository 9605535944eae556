# Demo scale of the TDAM ImageNet configs on the generated 4-class folder
# (data/demo/cls, 64x64): TDAMClassifier with a TDAM-ResNet-18 (TDjoint,
# T = 2, m = 2), evaluated with the standard accuracy and TDAM's any-of-T
# IoU-filtered protocol side by side.
_base_ = '../../baselines/demo/resnet50_demo.py'

model = dict(
    type='td_plugins.TDAMClassifier',
    backbone=dict(_delete_=True, type='td_plugins.TDAMResNet', depth=18,
                  feedback_distance=2, out_indices=(3, )),
    head=dict(in_channels=512))
val_evaluator = [
    dict(type='Accuracy', topk=(1, )),
    dict(type='td_plugins.AnyStepAccuracy', topk=(1, 2)),
]
test_evaluator = val_evaluator
