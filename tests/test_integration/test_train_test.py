"""Train each demo variant a few iterations with tools/train.py, evaluate the
runner-written checkpoint with tools/test.py and the codebase's own metric;
the same on the small real datasets of ../shared/data when present."""
import json
import math

import pytest

from conftest import run_tool

# family: (demo config, real-data config, metric key, metric upper bound);
# the configs live in configs/baselines/demo and configs/baselines/real.
FAMILIES = {
    'fcos': ('fcos_r50_fpn_demo.py', 'fcos_r50_fpn_coco-mini.py',
             'coco/bbox_mAP', 1.0),
    'faster_rcnn': ('faster-rcnn_r50_fpn_demo.py',
                    'faster-rcnn_r50_fpn_coco-mini.py', 'coco/bbox_mAP', 1.0),
    'simplebaseline': ('td-hm_res50_demo.py', 'td-hm_res50_coco-mini.py',
                       'coco/AP', 1.0),
    'resnet3d50': ('resnet3d50_demo.py', 'resnet3d50_action-clips.py',
                   'acc/top1', 1.0),
    'resnet50': ('resnet50_demo.py', 'resnet50_hymenoptera.py',
                 'accuracy/top1', 100.0),
}
TEST_OPTIONS = {
    # mmdet's CocoMetric returns no metric at all when a model predicts no
    # box above score_thr, as a model trained two iterations may; keep all.
    'fcos': ['model.test_cfg.score_thr=0.0'],
    'faster_rcnn': ['model.test_cfg.rcnn.score_thr=0.0'],
}
ITERS = 2
SHORT = ['--cfg-options', f'train_cfg.max_iters={ITERS}',
         'train_dataloader.batch_size=2',
         f'default_hooks.checkpoint.interval={ITERS}']


def train_and_test(config: str, work_dir, key: str, upper: float,
                   test_options: list) -> dict:
    cfg = f'configs/{config}'
    run_tool('tools/train.py', cfg, '--work-dir', work_dir, '--no-validate',
             *SHORT)
    ckpt = work_dir / f'iter_{ITERS}.pth'
    assert ckpt.is_file(), sorted(p.name for p in work_dir.iterdir())
    out = work_dir / 'metrics.json'
    options = ['--cfg-options', *test_options] if test_options else []
    run_tool('tools/test.py', cfg, ckpt, '--work-dir', work_dir,
             '--metrics-out', out, *options)
    metrics = json.loads(out.read_text())
    assert key in metrics, metrics
    value = metrics[key]
    assert isinstance(value, (int, float)) and math.isfinite(value)
    # A metric of -1 means "nothing to evaluate": the data did not reach it.
    assert 0.0 <= value <= upper, metrics
    return metrics


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_demo_variant(family, demo_data, tmp_path):
    demo, _, key, upper = FAMILIES[family]
    train_and_test(f'baselines/demo/{demo}', tmp_path, key, upper,
                   TEST_OPTIONS.get(family))


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_real_data(family, shared_data, tmp_path):
    _, real, key, upper = FAMILIES[family]
    train_and_test(f'baselines/real/{real}', tmp_path, key, upper,
                   TEST_OPTIONS.get(family))
