"""TDAM through the standard runners: every demo variant trains a few
iterations with tools/train.py and is evaluated by tools/test.py with its
codebase's metric (and, for classification, TDAM's own protocol)."""
import json

import pytest

from conftest import REPO, run_tool
from td_plugins.utils import safe_torch_load
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


def test_tdam_imagenet_recipe_on_real_photos(shared_data, tmp_path):
    """The paper's ImageNet config as shipped (official timm recipe, random
    erasing, label smoothing, both evaluators), only pointed at the
    ants/bees photos of ../shared/data: trains and evaluates."""
    root = shared_data / 'hymenoptera'
    cfg = tmp_path / 'tdam_hymenoptera.py'
    base = REPO / 'configs/tdam/tdam-joint-t2m1_resnet50_8xb64_in1k.py'
    loader = ("dict(batch_size=2, num_workers=0, persistent_workers=False, "
              "dataset=dict(_delete_=True, type='CustomDataset', "
              "data_root='{root}/', ann_file='{split}.txt', "
              "data_prefix='{split}', classes=('ants', 'bees'), "
              "indices={n}, pipeline={{{{_base_.{pipe}}}}}))")
    cfg.write_text('\n'.join([
        f"_base_ = '{base}'",
        "model = dict(head=dict(num_classes=2, topk=(1, )))",
        'train_dataloader = ' + loader.format(root=root, split='train', n=4,
                                              pipe='train_pipeline'),
        'val_dataloader = ' + loader.format(root=root, split='val', n=6,
                                            pipe='test_pipeline'),
        'test_dataloader = val_dataloader',
        "val_evaluator = [dict(type='Accuracy', topk=(1, )), "
        "dict(type='td_plugins.AnyStepAccuracy', topk=(1, 2))]",
        'test_evaluator = val_evaluator',
        'train_cfg = dict(max_epochs=1)', '']))
    work = tmp_path / 'work'
    run_tool('tools/train.py', cfg, '--work-dir', work, '--no-validate')
    out = work / 'metrics.json'
    run_tool('tools/test.py', cfg, work / 'epoch_1.pth', '--work-dir', work,
             '--metrics-out', out)
    metrics = json.loads(out.read_text())
    for key in ('accuracy/top1', 'tdam/final_step/top1',
                'tdam/any_step_iou_filtered/top1',
                'tdam/any_step_iou_filtered/top2'):
        assert 0.0 <= metrics[key] <= 100.0, metrics


@pytest.mark.parametrize('config', [
    'configs/tdam/fcos_tdam-r50_fpn_gn-head_1x_coco.py',
    'configs/tdam/faster-rcnn_tdam-r50_fpn_1x_coco.py',
])
def test_tdam_detection_configs_train_on_coco_mini(config, shared_data,
                                                   tmp_path):
    root = shared_data / 'coco_mini'
    run_tool(
        'tools/train.py', config, '--work-dir', tmp_path, '--no-validate',
        '--cfg-options', f'train_dataloader.dataset.data_root={root}/',
        'train_dataloader.dataset.indices=1', 'train_dataloader.batch_size=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1',
        # No network here: start from scratch instead of torchvision://.
        'model.backbone.init_cfg=None')
    keys = safe_torch_load(str(tmp_path / 'epoch_1.pth'))['state_dict']
    assert 'backbone.layer3.0.td.fuse.weight' in keys
    assert 'backbone.layer4.2.bn3_1.running_mean' in keys
