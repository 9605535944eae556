"""Backbone + neck of every shipped detection config, in its training
setting (``train()`` applies its ``norm_eval`` and frozen stages), take one
training step at 1 and at 2 images per GPU: mmdet's 2 images per GPU, and 1
for the last uneven batch. Values and gradients must be finite."""
from pathlib import Path

import pytest
import torch

from td_plugins.utils import build_from_config, load_config

REPO = Path(__file__).resolve().parents[2]
DETECTION = sorted(
    p.relative_to(REPO).as_posix() for p in (REPO / 'configs').rglob('*.py')
    if p.name.startswith(('fcos', 'faster-rcnn')) and 'demo' not in p.parts
    and 'real' not in p.parts)


def test_detection_configs_found():
    # The canonical FCOS-TDAF, TDAF/TDAM/AW detectors and the two baselines.
    assert 'configs/fcos_tdaf_r50.py' in DETECTION
    assert len(DETECTION) >= 15, DETECTION


@pytest.mark.parametrize('path', DETECTION)
def test_train_step_at_one_and_two_images(path):
    cfg = load_config(str(REPO / path))
    torch.manual_seed(0)
    backbone = build_from_config(cfg, part='backbone')
    neck = build_from_config(cfg, part='neck')
    backbone.train()
    neck.train()
    params = [p for m in (backbone, neck) for p in m.parameters()
              if p.requires_grad]
    for batch in (1, 2):
        for p in params:
            p.grad = None
        x = torch.rand(batch, 3, 64, 96)
        outs = neck(backbone(x))
        loss = sum(o.float().pow(2).mean() for o in outs)
        assert torch.isfinite(loss), (path, batch)
        loss.backward()
        grads = [p.grad for p in params if p.grad is not None]
        assert grads, path
        assert all(torch.isfinite(g).all() for g in grads), (path, batch)
