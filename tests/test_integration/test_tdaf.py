"""TDAF through the standard runners: the canonical FCOS config on real COCO
images, and the TDAF demo variants trained and evaluated like the baselines."""
import pytest

from conftest import run_tool
from td_plugins.utils import safe_torch_load
from test_train_test import TEST_OPTIONS, train_and_test


def test_canonical_fcos_tdaf_config_trains_on_coco_mini(shared_data,
                                                        tmp_path):
    root = shared_data / 'coco_mini'
    run_tool(
        'tools/train.py', 'configs/fcos_tdaf_r50.py', '--work-dir', tmp_path,
        '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={root}/',
        'train_dataloader.dataset.indices=1', 'train_dataloader.batch_size=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_cfg.max_epochs=1',
        # No network here: start from scratch instead of torchvision://.
        'model.backbone.init_cfg=None')
    ckpt = safe_torch_load(str(tmp_path / 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == 1
    keys = ckpt['state_dict']
    assert 'backbone.layer1.0.conv1.weight' in keys
    assert any(k.startswith('backbone.r2dns.anars.2.') for k in keys)
    assert keys['backbone.bn1.running_mean'].shape == (3, 64)


@pytest.mark.parametrize('config,family', [
    ('tdaf/demo/fcos_tdaf-r50_demo.py', 'fcos'),
    ('tdaf/demo/faster-rcnn_tdaf-r50_demo.py', 'faster_rcnn'),
])
def test_tdaf_demo_variant(config, family, demo_data, tmp_path):
    train_and_test(config, tmp_path, 'coco/bbox_mAP', 1.0,
                   TEST_OPTIONS[family])


@pytest.mark.parametrize('config,key', [
    ('tdaf/demo/tdaf-resnet3d50_demo.py', 'acc/top1'),
    ('tdaf/demo/td-hm_res50-tdaf-head_demo.py', 'coco/AP'),
])
def test_tdaf_3d_and_pose_demo_variants(config, key, demo_data, tmp_path):
    train_and_test(config, tmp_path, key, 1.0, [])
