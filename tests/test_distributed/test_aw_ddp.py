"""DDP on 2 gloo processes (batch b each, ``find_unused_parameters=False``)
equals one process with batch 2b, for AW-ResNet-50 and AW-FPN with the
shipped detection normalisation: the AW branches' GroupNorm with one group
(per sample, so no statistic spans the batch) and the ResNet's own BNs
frozen (``norm_eval=True``, as mmdet's detection configs run their
backbones; SyncBN would be needed otherwise, and it refuses CPU tensors).

float64, two SGD steps (a parameter without a gradient fails DDP in step
2), and ``changed=`` asserts that the attention branches' weights moved.
"""
from typing import Dict

import torch
import torch.nn as nn
from ddp_equivalence import DDPCase, ddp_equivalence

GN1 = dict(type='GN', num_groups=1)
GLOBAL_BATCH = 4
TOL = 1e-5


def _slice(x: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    per = x.shape[0] // world_size
    return x[rank * per:(rank + 1) * per]


def _attention_moved(prefixes=('attn_conv', 'attn_bn')):
    def check(initial: Dict[str, torch.Tensor],
              final: Dict[str, torch.Tensor]) -> None:
        keys = [k for k in initial
                if any(f'.{p}' in k for p in prefixes)]
        assert keys
        still = [k for k in keys if torch.equal(initial[k], final[k])]
        assert not still, still[:5]
    return check


class _AWResNetNet(nn.Module):
    """AW-ResNet-50 (detection setting) + a linear head on every stage."""

    def __init__(self) -> None:
        super().__init__()
        from td_plugins.models.backbones import AWResNet
        self.backbone = AWResNet(depth=50, attn_norm_cfg=GN1,
                                 norm_eval=True, zero_init_residual=False,
                                 out_indices=(0, 1, 2, 3))
        self.fc = nn.Linear(256 + 512 + 1024 + 2048, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [f.mean(dim=(2, 3)) for f in self.backbone(x)]
        return self.fc(torch.cat(feats, dim=1))


def aw_resnet_case() -> DDPCase:
    torch.manual_seed(0)
    model = _AWResNetNet().double().train()   # train() applies norm_eval
    assert not model.backbone.layer1[0].bn2.training
    assert model.backbone.layer1[0].conv2.attn_bn2.training

    def loss(net, rank, world_size, step):
        gen = torch.Generator().manual_seed(100 + step)
        x = torch.randn(GLOBAL_BATCH, 3, 32, 32, generator=gen,
                        dtype=torch.float64)
        y = torch.randint(0, 3, (GLOBAL_BATCH, ), generator=gen)
        return nn.functional.cross_entropy(
            net(_slice(x, rank, world_size)), _slice(y, rank, world_size))

    return DDPCase(model, loss, lr=0.05)


FPN_IN = [16, 32, 64, 128]


def _fpn(attention):
    from td_plugins.models.necks import AWFPN
    # 64 output channels, r = 4: 16 hidden channels as in the paper's
    # 256-channel FPN with r = 16.
    return AWFPN(in_channels=FPN_IN, out_channels=64, num_outs=5,
                 reduction=4, attention=attention, attention_reduction=2,
                 attn_norm_cfg=GN1)


def _fpn_case(attention) -> DDPCase:
    torch.manual_seed(0)
    model = _fpn(attention).double().train()

    def loss(net, rank, world_size, step):
        gen = torch.Generator().manual_seed(200 + step)
        feats = [torch.randn(GLOBAL_BATCH, c, 16 // 2**i, 16 // 2**i,
                             generator=gen, dtype=torch.float64)
                 for i, c in enumerate(FPN_IN)]
        targets = [torch.randn(GLOBAL_BATCH, 64, max(16 // 2**i, 1),
                               max(16 // 2**i, 1), generator=gen,
                               dtype=torch.float64) for i in range(5)]
        outs = net(tuple(_slice(f, rank, world_size) for f in feats))
        return sum((o - _slice(t, rank, world_size)).square().mean()
                   for o, t in zip(outs, targets))

    return DDPCase(model, loss, lr=0.05)


def aw_fpn_case() -> DDPCase:
    return _fpn_case(None)


def aw_se_fpn_case() -> DDPCase:
    return _fpn_case('se')


def test_aw_resnet_ddp_equals_one_process(tmp_path):
    worst = ddp_equivalence('test_aw_ddp:aw_resnet_case', tmp_path,
                            changed=_attention_moved())
    print(f'AW-ResNet-50: largest relative difference {worst:.3g}')
    assert worst < TOL


def test_aw_fpn_ddp_equals_one_process(tmp_path):
    worst = ddp_equivalence('test_aw_ddp:aw_fpn_case', tmp_path,
                            changed=_attention_moved())
    print(f'AW-FPN: largest relative difference {worst:.3g}')
    assert worst < TOL


def test_aw_se_fpn_ddp_equals_one_process(tmp_path):
    worst = ddp_equivalence(
        'test_aw_ddp:aw_se_fpn_case', tmp_path,
        changed=_attention_moved(('attn_conv', 'attn_bn', 'fc')))
    print(f'AW-SE-FPN: largest relative difference {worst:.3g}')
    assert worst < TOL
