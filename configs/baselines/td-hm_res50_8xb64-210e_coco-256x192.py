# SimpleBaseline (Xiao et al. 2018): ResNet-50 + deconvolution heatmap head,
# top-down, COCO keypoints 256x192: mmpose's stock config, unchanged
# (custom_imports: weights-only checkpoint loading, see td_plugins.utils).
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'  # noqa: E501
custom_imports = dict(imports=['td_plugins'], allow_failed_imports=False)
