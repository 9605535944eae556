"""AW-FPN detectors through the standard runners: each demo variant trains a
few iterations with tools/train.py and is evaluated by tools/test.py with
mmdet's CocoMetric (generated demo data)."""
import pytest

from test_train_test import TEST_OPTIONS, train_and_test


@pytest.mark.parametrize('config,family', [
    ('aw/demo/fcos_r50_aw-fpn_demo.py', 'fcos'),
    ('aw/demo/faster-rcnn_r50_aw-se-fpn_demo.py', 'faster_rcnn'),
    ('aw/demo/faster-rcnn_r50_aw-cbam-fpn_demo.py', 'faster_rcnn'),
])
def test_aw_fpn_detection_demo_variant(config, family, demo_data, tmp_path):
    train_and_test(config, tmp_path, 'coco/bbox_mAP', 1.0,
                   TEST_OPTIONS[family])
