"""TDAF through the standard runners: the canonical FCOS config on real COCO
images, and the TDAF demo variants trained and evaluated like the baselines
(the loss falls by a measured fraction on a few fixed images; the metric is
computed)."""
import pytest
from conftest import run_tool
from test_train_test import learn_and_test

from td_plugins.utils import safe_torch_load

# config: largest allowed (mean of the last 5 losses) / (mean of the first
# 5) over 30 iterations, about half the measured drop (measured: in the
# comment).
LOSS_RATIO = {
    'tdaf/demo/fcos_tdaf-r50_demo.py': 0.69,   # 5.98 -> 2.27, 0.380
    'tdaf/demo/faster-rcnn_tdaf-r50_demo.py': 0.54,   # 1.262 -> 0.111, 0.088
    'tdaf/demo/tdaf-resnet3d50_demo.py': 0.51,   # 1.706 -> 0.041, 0.024
    # 0.00642 -> 0.00288, 0.449 (over the first loss: 0.678)
    'tdaf/demo/td-hm_res50-tdaf-head_demo.py': 0.72,
}


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
    learn_and_test(config, tmp_path, 'coco/bbox_mAP', family,
                   LOSS_RATIO[config])


@pytest.mark.parametrize('config,key,family,min_metric', [
    # on the four memorised clips
    ('tdaf/demo/tdaf-resnet3d50_demo.py', 'acc/top1', 'resnet3d50', None),
    ('tdaf/demo/td-hm_res50-tdaf-head_demo.py', 'coco/AP', 'simplebaseline',
     None),
])
def test_tdaf_3d_and_pose_demo_variants(config, key, family, min_metric,
                                        demo_data, tmp_path):
    learn_and_test(config, tmp_path, key, family, LOSS_RATIO[config],
                   min_metric)
