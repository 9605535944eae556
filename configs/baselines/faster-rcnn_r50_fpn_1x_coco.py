# Faster R-CNN R50-FPN, 1x COCO: mmdet's stock config, unchanged
# (custom_imports: weights-only checkpoint loading, see td_plugins.utils).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
