"""TDAM through the standard runners: every demo variant trains a few
iterations with tools/train.py and is evaluated by tools/test.py with its
codebase's metric (and, for classification, TDAM's own protocol)."""
import pytest

from test_train_test import TEST_OPTIONS, train_and_test


@pytest.mark.parametrize('config,family', [
    ('tdam/demo/fcos_tdam-r50_demo.py', 'fcos'),
    ('tdam/demo/faster-rcnn_tdam-r50_demo.py', 'faster_rcnn'),
])
def test_tdam_detection_demo_variant(config, family, demo_data, tmp_path):
    train_and_test(config, tmp_path, 'coco/bbox_mAP', 1.0,
                   TEST_OPTIONS[family])


def test_tdam_pose_demo_variant(demo_data, tmp_path):
    train_and_test('tdam/demo/td-hm_tdam-r50_demo.py', tmp_path, 'coco/AP',
                   1.0, [])


def test_tdam_classification_demo_reports_both_protocols(demo_data,
                                                         tmp_path):
    metrics = train_and_test('tdam/demo/tdam-r18_cls_demo.py', tmp_path,
                             'tdam/any_step_iou_filtered/top1', 100.0, [])
    assert 0.0 <= metrics['tdam/final_step/top1'] <= 100.0
    assert metrics['tdam/final_step/top1'] == pytest.approx(
        metrics['accuracy/top1'])
    assert metrics['tdam/any_step_iou_filtered/top2'] >= \
        metrics['tdam/any_step_iou_filtered/top1']


def test_tdam_3d_action_demo_variant(demo_data, tmp_path):
    train_and_test('tdam/demo/tdam-resnet3d50_demo.py', tmp_path, 'acc/top1',
                   1.0, [])
