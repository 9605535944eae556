"""DDP on 2 gloo processes (batch b each) equals one process with batch 2b
for TDAF-ResNet-18 whose multi-flow BNs mmengine's
``convert_sync_batchnorm`` (the Runner's ``sync_bn``) turned into
:class:`SyncMultiFlowBatchNorm`: every flow's batch statistics span both
ranks, with gradients through them, as one process's do.

float64, two SGD steps (a parameter without a gradient fails DDP in step
2); ``changed=`` asserts that parameters and every flow's running
statistics moved. Without the conversion the per-rank statistics differ,
and so do the results (the last test), so the check can fail.
"""
from typing import Dict

import torch
import torch.nn as nn
from ddp_equivalence import DDPCase, ddp_equivalence

GLOBAL_BATCH = 4
TOL = 1e-5


def _slice(x: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    per = x.shape[0] // world_size
    return x[rank * per:(rank + 1) * per]


class _TDAFNet(nn.Module):
    """TDAF-ResNet-18 (3 flows, ANAR-3) + a linear head on every stage."""

    def __init__(self, **kwargs) -> None:
        super().__init__()
        from td_plugins.models.backbones import TDAFResNet
        self.backbone = TDAFResNet(depth=18, num_flows=3, anar=3,
                                   zero_init_anar=False, **kwargs)
        self.fc = nn.Linear(64 + 128 + 256 + 512, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [f.mean(dim=(2, 3)) for f in self.backbone(x)]
        return self.fc(torch.cat(feats, dim=1))


def _case(sync: bool, **kwargs) -> DDPCase:
    from mmengine.model import convert_sync_batchnorm

    import td_plugins  # noqa: F401 (the conversion hook)
    from td_plugins.models.layers import SyncMultiFlowBatchNorm
    torch.manual_seed(0)
    model = _TDAFNet(**kwargs).double()
    if sync:
        model = convert_sync_batchnorm(model, 'torch')
        assert isinstance(model.backbone.bn1, SyncMultiFlowBatchNorm)
        assert isinstance(model.backbone.r2dns.anars[0].trans_norm,
                          SyncMultiFlowBatchNorm)
    model.train()

    def loss(net, rank, world_size, step):
        gen = torch.Generator().manual_seed(100 + step)
        x = torch.rand(GLOBAL_BATCH, 3, 64, 64, generator=gen,
                       dtype=torch.float64) * 2 + 0.5
        y = torch.randint(0, 3, (GLOBAL_BATCH, ), generator=gen)
        return nn.functional.cross_entropy(
            net(_slice(x, rank, world_size)), _slice(y, rank, world_size))

    return DDPCase(model, loss, lr=0.05)


def tdaf_sync_case() -> DDPCase:
    return _case(sync=True)


def tdaf_unsynced_case() -> DDPCase:
    return _case(sync=False)


def _moved(initial: Dict[str, torch.Tensor],
           final: Dict[str, torch.Tensor]) -> None:
    keys = [k for k in initial if k.endswith(('weight', 'running_mean',
                                              'running_var'))]
    still = [k for k in keys if torch.equal(initial[k], final[k])]
    assert not still, still[:5]
    # Two steps: each flow that runs a layer counted two batches there.
    prefix = 'backbone.'
    assert final[prefix + 'bn1.num_batches_tracked'].tolist() == [2, 2, 2]
    assert final[prefix + 'layer4.1.bn2.num_batches_tracked'].tolist() == \
        [0, 0, 2]
    assert final[prefix + 'r2dns.anars.0.trans_norm.num_batches_tracked'] \
        .tolist() == [2, 2, 0]  # ANAR 0 reads flows 0 and 1


def test_ddp_with_sync_multi_flow_bn_equals_one_process(tmp_path):
    worst = ddp_equivalence('test_tdaf_ddp:tdaf_sync_case', tmp_path,
                            changed=_moved)
    print(f'TDAF-ResNet-18 + SyncMFBN: largest relative difference '
          f'{worst:.3g}')
    assert worst < TOL


def test_without_the_conversion_ddp_differs(tmp_path):
    worst = ddp_equivalence('test_tdaf_ddp:tdaf_unsynced_case', tmp_path,
                            steps=1)
    assert worst > 1e-3
