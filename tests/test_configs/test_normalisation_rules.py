"""Every shipped detection, pose and video config normalises its host
network (the layers a checkpoint pretrains) by the same rule as the
baseline it is compared with, so a "method vs baseline" number is fair.

The rule of a built model part, read in training mode (``train()`` applies
``norm_eval`` and ``frozen_stages``): the set of (statistics training,
affine trained) over its host norms, whether those are synchronised
across GPUs (``sync_bn`` or a synchronised norm type, counted only where
statistics train), and the images per GPU. Norms inside the attention a
method adds (ANARs, AW branches, SE/CBAM, TDAM's attention) are its own and
are decided per method in docs/normalisation.md.
"""
from pathlib import Path
from typing import FrozenSet, Tuple

import pytest
import torch.nn as nn

from td_plugins.models.layers import (
    ANAR,
    CBAM,
    R2DNS,
    AWConv2d,
    SqueezeExcitation,
    TopDownAttention,
)
from td_plugins.utils import build_from_config, load_config

REPO = Path(__file__).resolve().parents[2]
BASE = 'configs/baselines/'
ATTENTION = (ANAR, AWConv2d, CBAM, R2DNS, SqueezeExcitation,
             TopDownAttention)
NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def _baseline(path: str) -> str:
    name = Path(path).name
    if name.startswith('fcos'):
        ms = 'ms-640-800-2x' in name or name == 'fcos_tdaf_r50.py'
        return BASE + ('fcos_r50_fpn_gn-head_ms-640-800-2x_coco.py' if ms
                       else 'fcos_r50-caffe_fpn_gn-head_1x_coco.py')
    if name.startswith('faster-rcnn'):
        return BASE + 'faster-rcnn_r50_fpn_1x_coco.py'
    if name.startswith('td-hm'):
        return BASE + 'td-hm_res50_8xb64-210e_coco-256x192.py'
    if 'kinetics' in name:
        return BASE + 'resnet3d50-3x3x3_8xb8-16x1x1-100e_kinetics400-rgb.py'
    raise AssertionError(f'no baseline known for {path}')


METHOD_CONFIGS = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / 'configs').rglob('*.py')
    if 'baselines' not in p.parts and 'demo' not in p.parts
    and '_base_' not in p.parts
    and p.name.startswith(('fcos', 'faster-rcnn', 'td-hm'))
    or 'kinetics' in p.name and 'baselines' not in p.parts)


def _host_norms(module: nn.Module):
    """Norms of ``module`` outside any attention module."""
    def walk(m: nn.Module):
        if isinstance(m, ATTENTION):
            return
        if isinstance(m, NORMS):
            yield m
        for child in m.children():
            yield from walk(child)
    return list(walk(module))


Rule = Tuple[FrozenSet[Tuple[bool, bool]], bool, int]


def _rule(cfg, part: str) -> Rule:
    module = build_from_config(cfg, part=part)
    module.train()
    states = frozenset(
        (m.training, m.weight is not None and m.weight.requires_grad)
        for m in _host_norms(module))
    synced = any(type(m).__name__.startswith('Sync')
                 for m in _host_norms(module)) or bool(cfg.get('sync_bn'))
    trains_stats = any(training for training, _ in states)
    return states, synced and trains_stats, cfg.train_dataloader.batch_size


def test_every_task_config_has_a_baseline():
    assert len(METHOD_CONFIGS) >= 18, METHOD_CONFIGS
    for path in METHOD_CONFIGS:
        assert (REPO / _baseline(path)).is_file(), path


@pytest.mark.parametrize('path', METHOD_CONFIGS)
def test_host_norms_follow_the_baselines_rule(path):
    cfg = load_config(str(REPO / path))
    base = load_config(str(REPO / _baseline(path)))
    for part in ('backbone', 'neck', 'head'):
        if part not in cfg.model or part not in base.model:
            continue
        assert _rule(cfg, part) == _rule(base, part), (path, part)


def test_the_rule_tells_per_gpu_statistics_from_frozen_ones():
    # The trap this file guards against: FCOS-TDAF training per-flow batch
    # statistics at 2 images per GPU against a frozen-BN baseline.
    path = 'configs/fcos_tdaf_r50.py'
    base = load_config(str(REPO / _baseline(path)))
    cfg = load_config(str(REPO / path),
                      {'model.backbone.norm_eval': False})
    states, synced, _ = _rule(cfg, 'backbone')
    assert (True, True) in states and synced  # sync_bn covers them now
    assert _rule(cfg, 'backbone') != _rule(base, 'backbone')
    cfg.sync_bn = None
    assert _rule(cfg, 'backbone')[1] is False
