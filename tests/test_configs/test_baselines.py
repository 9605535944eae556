"""Every shipped config loads, inherits a stock base and builds its model."""
import importlib
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p.relative_to(REPO).as_posix()
                 for p in (REPO / 'configs').rglob('*.py'))


def _build(cfg: Config):
    init_default_scope(cfg.default_scope)
    registry = importlib.import_module(f'{cfg.default_scope}.registry')
    return registry.MODELS.build(cfg.model)


def _n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_configs_found():
    assert len(CONFIGS) >= 15, CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds(path):
    cfg = Config.fromfile(REPO / path)
    assert cfg.default_scope in ('mmdet', 'mmpose', 'mmaction', 'mmpretrain')
    assert cfg.custom_imports == dict(imports=['td_plugins'],
                                      allow_failed_imports=False)
    model = _build(cfg)
    assert _n_params(model) > 0


def test_resnet3d50_has_hara_parameter_count():
    cfg = Config.fromfile(
        REPO / 'configs/baselines/'
        'resnet3d50-3x3x3_8xb8-16x1x1-100e_kinetics400-rgb.py')
    model = _build(cfg)
    assert _n_params(model) == 47_018_576
    assert _n_params(model.backbone) == 46_198_976
    assert model.backbone.conv1.conv.kernel_size == (7, 7, 7)
    # 3x3x3 in every block: conv2 of every bottleneck is 3x3x3.
    blocks = [b for name in model.backbone.res_layers
              for b in getattr(model.backbone, name)]
    assert len(blocks) == 16
    assert all(b.conv2.conv.kernel_size == (3, 3, 3) for b in blocks)
    # Time is downsampled like space: 16 frames -> 8 (pool) -> 8, 4, 2, 1.
    model.backbone.eval()  # (mmaction's train() returns None)
    with torch.no_grad():
        out = model.backbone(torch.rand(1, 3, 16, 64, 64))
    assert tuple(out.shape) == (1, 2048, 1, 2, 2)


@pytest.mark.parametrize('path,expected', [
    ('configs/baselines/fcos_r50-caffe_fpn_gn-head_1x_coco.py', 32_295_322),
    ('configs/baselines/faster-rcnn_r50_fpn_1x_coco.py', 41_753_056),
    ('configs/baselines/resnet50_8xb32_in1k.py', 25_557_032),
])
def test_stock_baselines_are_unchanged(path, expected):
    """The baselines add only custom_imports to the stock configs."""
    assert _n_params(_build(Config.fromfile(REPO / path))) == expected
