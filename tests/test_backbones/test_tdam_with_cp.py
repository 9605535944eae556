"""``with_cp=True`` trains exactly what ``with_cp=False`` trains, in every
TDAM host that accepts it: outputs, every gradient and every running
statistic (``num_batches_tracked`` included), at T = 2, in float64, with the
BNs in training mode (batch statistics, running statistics updated).

Plain ``torch.utils.checkpoint`` re-runs a BN's forward in backward and so
updates its running statistics twice; the TDAM blocks (and the hosts' plain
blocks where they have BN) use ``checkpoint_keep_stats`` instead."""
from typing import Callable, Dict, Tuple

import pytest
import torch
import torch.nn as nn

from td_plugins.models.backbones import TDAMResNet

CONVNEXT_SMALL = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])


def _resnet(with_cp: bool) -> Tuple[nn.Module, torch.Tensor]:
    model = TDAMResNet(depth=18, num_steps=2, feedback_distance=2,
                       zero_init_residual=False, out_indices=(2, 3),
                       with_cp=with_cp)
    return model, torch.rand(2, 3, 32, 32)


def _resnet3d(with_cp: bool) -> Tuple[nn.Module, torch.Tensor]:
    pytest.importorskip('mmaction')
    from td_plugins.models.backbones.tdam_resnet3d import TDAMResNet3d
    model = TDAMResNet3d(depth=18, pretrained=None, num_steps=2,
                         zero_init_residual=False, with_cp=with_cp)
    model.init_weights()
    return model, torch.rand(2, 3, 4, 32, 32)


def _convnext(with_cp: bool) -> Tuple[nn.Module, torch.Tensor]:
    from td_plugins.models.backbones.tdam_convnext import TDAMConvNeXt
    model = TDAMConvNeXt(arch=CONVNEXT_SMALL, num_steps=2,
                         layer_scale_init_value=1.0, out_indices=(2, 3),
                         with_cp=with_cp)
    return model, torch.rand(2, 3, 32, 32)


def _mobilenet(with_cp: bool) -> Tuple[nn.Module, torch.Tensor]:
    from td_plugins.models.backbones.tdam_mobilenet_v3 import TDAMMobileNetV3
    model = TDAMMobileNetV3(arch='small', num_steps=2, out_indices=(8, 12),
                            with_cp=with_cp)
    return model, torch.rand(2, 3, 32, 32)


BUILDERS: Dict[str, Callable] = dict(
    resnet=_resnet, resnet3d=_resnet3d, convnext=_convnext,
    mobilenet_v3=_mobilenet)


def _step(model: nn.Module, x: torch.Tensor) -> Tuple[list, dict, dict]:
    """One training forward/backward: outputs, gradients, buffers."""
    model.train()
    outs = model(x)
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    gen = torch.Generator().manual_seed(1)
    loss = sum((o * torch.randn(o.shape, generator=gen,
                                dtype=o.dtype)).sum() for o in outs)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    return [o.detach() for o in outs], grads, buffers


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.


@pytest.mark.parametrize('name', list(BUILDERS))
def test_with_cp_equals_no_cp(name):
    torch.manual_seed(0)
    plain, x = BUILDERS[name](False)
    cp_model, _ = BUILDERS[name](True)
    cp_model.load_state_dict(plain.state_dict())
    plain.double()
    cp_model.double()
    x = x.double().requires_grad_()
    ref = _step(plain, x)
    x.grad = None
    got = _step(cp_model, x)
    # the checkpointed blocks really are checkpointed
    assert any(getattr(m, 'with_cp', False) for m in cp_model.modules())

    worst = {}
    for a, b in zip(got[0], ref[0]):
        worst['outputs'] = max(worst.get('outputs', 0.), _max_diff(a, b))
    assert got[1].keys() == ref[1].keys()
    assert len(ref[1]) == len(list(plain.parameters()))  # all have grads
    worst['gradients'] = max(_max_diff(got[1][k], v)
                             for k, v in ref[1].items())
    assert got[2].keys() == ref[2].keys()
    worst['buffers'] = max([_max_diff(got[2][k], v)
                            for k, v in ref[2].items()], default=0.)
    tracked = {k: v for k, v in got[2].items()
               if k.endswith('num_batches_tracked')}
    if tracked:  # hosts with BN: each statistic updated once
        assert all(int(v) == 1 for v in tracked.values()), tracked
    print(f'{name}: with_cp vs no cp, largest absolute differences {worst}')
    assert max(worst.values()) <= 1e-12, worst
