"""DDP on 2 gloo processes (batch b each, ``find_unused_parameters=False``)
equals one process with batch 2b, for TDAM-ResNet and TNet; and every
parameter gets a gradient when a setting leaves the attention out
(TDAM ``num_steps=1``, TNet ``num_levels=1``): the unused modules are not
built, so plain DDP works.

The comparisons are meaningful: float64, two SGD steps (an unused
parameter fails DDP in step 2), ``changed=`` asserts that the attention's
weights (and TNet's REINFORCE baseline) moved. TDAM's BNs run frozen
(``norm_eval=True``, as the shipped detection configs; batch statistics
would make a per-rank batch differ from the whole one, and SyncBN needs
CUDA). TNet uses the demo-scale BagNet model (no BN) with the official
deterministic top-k selection; its EMA baseline is a batch statistic and
TNetLoss averages its update over the processes (the official
``aggregation=MEAN``), which is what makes DDP equal the big batch.
"""
from pathlib import Path
from typing import Dict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from ddp_equivalence import DDPCase, ddp_equivalence

REPO = Path(__file__).resolve().parents[2]
TNET_DEMO = str(REPO / 'configs/tnet/demo/tnet-bagnet_cls_demo.py')
GLOBAL_BATCH = 4
TOL = 1e-5


def _slice(x: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    per = x.shape[0] // world_size
    return x[rank * per:(rank + 1) * per]


# ------------------------------------------------------------- TDAM ---

class _TDAMNet(nn.Module):
    """TDAM-ResNet-18 + a linear classifier (float64)."""

    def __init__(self, num_steps: int) -> None:
        super().__init__()
        from td_plugins.models.backbones import TDAMResNet
        self.backbone = TDAMResNet(depth=18, num_steps=num_steps,
                                   feedback_distance=2, norm_eval=True,
                                   zero_init_residual=False)
        self.fc = nn.Linear(512, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[-1].mean(dim=(2, 3)))


def _tdam_case(num_steps: int) -> DDPCase:
    torch.manual_seed(0)
    model = _TDAMNet(num_steps).double()

    def loss(net, rank, world_size, step):
        gen = torch.Generator().manual_seed(100 + step)
        x = torch.rand(GLOBAL_BATCH, 3, 32, 32, generator=gen,
                       dtype=torch.float64)
        y = torch.randint(0, 3, (GLOBAL_BATCH, ), generator=gen)
        net.train()  # norm_eval keeps every BN in eval mode
        return F.cross_entropy(net(_slice(x, rank, world_size)),
                               _slice(y, rank, world_size))
    return DDPCase(model, loss, lr=0.1)


def tdam_t2_case() -> DDPCase:
    return _tdam_case(2)


def tdam_t1_case() -> DDPCase:
    return _tdam_case(1)


# ------------------------------------------------------------- TNet ---

def _tnet_model(num_levels: int) -> nn.Module:
    from td_plugins.utils import build_from_config, load_config
    options = {} if num_levels == 2 else {
        'model.num_levels': 1, 'model.locations_per_level': 1}
    return build_from_config(load_config(TNET_DEMO, options))


def _tnet_batch(step: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(200 + step)
    return torch.rand(GLOBAL_BATCH, 3, 64, 64, generator=gen,
                      dtype=torch.float64) * 2 - 1


def _tnet_case(num_levels: int) -> DDPCase:
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = _tnet_model(num_levels).double()
    # Labels: the first image (rank 0's) is labelled what the initial model
    # predicts, the others are not, so the ranks' mean rewards differ (and
    # b moves): only an averaged baseline update keeps b equal to the whole
    # batch's (the same labels in every process: same seed).
    labels = []
    with torch.no_grad():
        for step in range(2):
            pred = model(_tnet_batch(step), mode='tensor').argmax(1)
            labels.append(torch.cat([pred[:1], (pred[1:] + 1) % 4]))

    def loss(net, rank, world_size, step):
        x, y = _tnet_batch(step), labels[step]
        samples = [DataSample().set_gt_label(int(v))
                   for v in _slice(y, rank, world_size)]
        net.train()
        losses = net(_slice(x, rank, world_size), samples, mode='loss')
        return sum(v for k, v in losses.items() if k.startswith('loss'))
    return DDPCase(model, loss, lr=0.05)


def tnet_two_levels_case() -> DDPCase:
    return _tnet_case(2)


def tnet_one_level_case() -> DDPCase:
    return _tnet_case(1)


# ------------------------------------------------------------ checks ---

def _moved(*prefixes: str):
    def check(initial: Dict[str, torch.Tensor],
              final: Dict[str, torch.Tensor]) -> None:
        for prefix in prefixes:
            keys = [k for k in final if k.startswith(prefix) or
                    f'.{prefix}' in k]
            assert keys, prefix
            assert any(not torch.equal(initial[k], final[k]) for k in keys), \
                f'{prefix} did not change'
    return check


@pytest.mark.parametrize('case,moved', [
    ('tdam_t2_case', ('td.', 'bn2_1.', 'fc.')),
    ('tdam_t1_case', ('layer4.1.conv2.', 'fc.')),
    ('tnet_two_levels_case', ('location_module.', 'loss_module.baseline',
                              'positional_module.', 'fc.')),
    ('tnet_one_level_case', ('positional_module.', 'fc.', 'backbone.')),
])
def test_ddp_two_processes_equal_one_big_batch(case, moved, tmp_path,
                                               capsys):
    diff = ddp_equivalence(f'test_tdam_tnet_ddp:{case}', tmp_path,
                           world_size=2, steps=2, changed=_moved(*moved))
    with capsys.disabled():
        print(f'\n{case}: DDP(2 x {GLOBAL_BATCH // 2}) vs one process '
              f'({GLOBAL_BATCH}): largest relative difference {diff:.3g}')
    assert diff < TOL, diff


# ------------------------------------------- no unused parameters ---

def _assert_every_parameter_has_a_gradient(model: nn.Module,
                                           loss: torch.Tensor) -> None:
    loss.backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None
                                       or not p.grad.abs().sum() > 0)]
    assert not missing, missing


def _backbone_t1(kind: str):
    if kind == 'resnet':
        from td_plugins.models.backbones import TDAMResNet
        return TDAMResNet(depth=50, num_steps=1, zero_init_residual=False,
                          out_indices=(2, 3)), (2, 3, 32, 32)
    if kind == 'resnet_m0':
        from td_plugins.models.backbones import TDAMResNet
        return TDAMResNet(depth=50, num_steps=1, feedback_distance=0,
                          zero_init_residual=False), (2, 3, 32, 32)
    if kind == 'resnet3d':
        pytest.importorskip('mmaction')
        from td_plugins.models.backbones.tdam_resnet3d import TDAMResNet3d
        model = TDAMResNet3d(depth=18, pretrained=None, num_steps=1,
                             zero_init_residual=False)
        model.init_weights()
        return model, (2, 3, 4, 32, 32)
    if kind == 'convnext':
        from td_plugins.models.backbones.tdam_convnext import TDAMConvNeXt
        return TDAMConvNeXt(arch=dict(depths=[1, 1, 2, 1],
                                      channels=[16, 32, 64, 128]),
                            num_steps=1, layer_scale_init_value=1.0), \
            (2, 3, 32, 32)
    from td_plugins.models.backbones.tdam_mobilenet_v3 import TDAMMobileNetV3
    return TDAMMobileNetV3(arch='small', num_steps=1), (2, 3, 32, 32)


@pytest.mark.parametrize('kind', ['resnet', 'resnet_m0', 'resnet3d',
                                  'convnext', 'mobilenet_v3'])
def test_tdam_one_step_builds_no_unused_attention_and_uses_every_param(kind):
    torch.manual_seed(0)
    model, shape = _backbone_t1(kind)
    blocks = [m for m in model.modules() if hasattr(m, 'num_steps')
              and hasattr(m, 'feedback_distance') and m is not model]
    if kind == 'resnet_m0':
        # m = 0 attends T times (official ``_static_recur_attention_forward_
        # m0``), so T = 1 builds the attention and uses it once.
        assert blocks and all(b.td is not None for b in blocks)
    else:
        assert not any('.td.' in k for k in model.state_dict()), kind
        assert blocks and all(b.td is None for b in blocks)
    model.train()
    outs = model(torch.rand(shape))
    outs = [outs] if isinstance(outs, torch.Tensor) else outs
    _assert_every_parameter_has_a_gradient(
        model, sum(o.square().mean() for o in outs))


def test_tnet_one_level_builds_no_location_module_and_uses_every_param():
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = _tnet_model(1)
    assert model.location_module is None
    assert not any(k.startswith('location_module.')
                   for k in model.state_dict())
    with pytest.raises(ValueError, match='needs the location module'):
        model.set_traversal(num_levels=2, locations_per_level=[1])
    model.train()
    losses = model(torch.rand(4, 3, 64, 64) * 2 - 1,
                   [DataSample().set_gt_label(i) for i in range(4)],
                   mode='loss')
    _assert_every_parameter_has_a_gradient(
        model, sum(v for k, v in losses.items() if k.startswith('loss')))
    # Evaluated with more levels: the module is built (and used there).
    from td_plugins.utils import build_from_config, load_config
    cfg = load_config(TNET_DEMO, {'model.num_levels': 1,
                                  'model.locations_per_level': 1,
                                  'model.test_cfg': dict(
                                      num_levels=2,
                                      locations_per_level=[2])})
    assert build_from_config(cfg).location_module is not None
