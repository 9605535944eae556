# FCOS R50-caffe FPN, GN head, 1x COCO: mmdet's stock config, unchanged.
# custom_imports makes checkpoint loading weights-only with mmengine's
# allow-list (td_plugins.utils.safe_checkpoint) even under mmdet's own
# tools/train.py, so --resume works on torch >= 2.6.
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
