"""run_flow and the flow blocks: the TDAF flow is an argument, not state."""
from functools import partial

import pytest
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from td_plugins.models.layers import (
    FlowBasicBlock,
    FlowBottleneck,
    FlowFn,
    MultiFlowBatchNorm2d,
    run_flow,
)


class _Log(nn.Module):
    takes_flow = True

    def __init__(self, log):
        super().__init__()
        self.log = log

    def forward(self, x, flow):
        self.log.append(flow)
        return x + flow


class _OwnForward(nn.Sequential):
    """A Sequential with its own forward: run_flow must call, not walk."""

    def forward(self, x):
        return x * 10


def test_run_flow_passes_the_flow_to_what_takes_one():
    log = []
    chain = [nn.Sequential(_Log(log), nn.Identity(),
                           nn.Sequential(_Log(log))),
             FlowFn(lambda x, flow: x * (flow + 1)), _OwnForward(_Log(log))]
    out = run_flow(chain, torch.zeros(1), 2)
    assert log == [2, 2] and out.item() == (0 + 2 + 2) * 3 * 10


def test_flow_blocks_compute_torchvisions_blocks():
    torch.manual_seed(0)
    for plain_cls, flow_cls, planes in ((BasicBlock, FlowBasicBlock, 8),
                                        (Bottleneck, FlowBottleneck, 2)):
        down = nn.Sequential(nn.Conv2d(8, planes * plain_cls.expansion, 1, 2),
                             nn.BatchNorm2d(planes * plain_cls.expansion))
        plain = plain_cls(8, planes, stride=2, downsample=down).train()
        norm = partial(MultiFlowBatchNorm2d, num_flows=1)
        fdown = nn.Sequential(nn.Conv2d(8, planes * plain_cls.expansion, 1, 2),
                              norm(planes * plain_cls.expansion))
        ours = flow_cls(8, planes, stride=2, downsample=fdown,
                        norm_layer=norm).train()
        report = ours.load_state_dict(plain.state_dict())
        assert not report.missing_keys and not report.unexpected_keys
        x = torch.randn(4, 8, 6, 6)
        torch.testing.assert_close(ours(x, 0), plain(x))
        torch.testing.assert_close(ours.bn1.running_mean[0],
                                   plain.bn1.running_mean)


def test_interleaved_flows_update_their_own_statistics():
    norm = partial(MultiFlowBatchNorm2d, num_flows=3)
    block = FlowBasicBlock(4, 4, norm_layer=norm).train()
    for flow in (2, 0, 2, 1, 2):
        block(torch.randn(2, 4, 5, 5), flow)
    assert block.bn1.num_batches_tracked.tolist() == [1, 1, 3]
    assert block.bn2.num_batches_tracked.tolist() == [1, 1, 3]


def test_a_block_called_without_a_flow_says_so():
    block = FlowBasicBlock(
        4, 4, norm_layer=partial(MultiFlowBatchNorm2d, num_flows=2))
    with pytest.raises(TypeError):
        block(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match='called without a flow'):
        run_flow(block.bn1, torch.randn(1, 4, 3, 3), None)
