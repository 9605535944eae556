"""torchvision's ResNet blocks taking the flow (Pang et al., 2021, sec 4.1)."""
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from .checkpoint import checkpoint_keep_stats
from .tdaf_flow import run_flow

__all__ = ['FlowBasicBlock', 'FlowBottleneck']


class _FlowBlockMixin:
    """``forward(x, flow)``, checkpointing ``_inner`` when ``with_cp``."""

    takes_flow = True
    with_cp = False

    def _identity(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        return x if self.downsample is None else \
            run_flow(self.downsample, x, flow)

    def forward(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        if self.with_cp and x.requires_grad and torch.is_grad_enabled():
            return checkpoint_keep_stats(self._inner, x, flow, owner=self)
        return self._inner(x, flow)


class FlowBasicBlock(_FlowBlockMixin, BasicBlock):
    """torchvision's ``BasicBlock`` (same arguments) taking the flow."""

    def _inner(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        out = self.relu(run_flow(self.bn1, self.conv1(x), flow))
        out = run_flow(self.bn2, self.conv2(out), flow)
        out += self._identity(x, flow)  # in place, as torchvision does
        return self.relu(out)


class FlowBottleneck(_FlowBlockMixin, Bottleneck):
    """torchvision's ``Bottleneck`` (ResNeXt groups included) taking the flow.

    Example:
        >>> from td_plugins.models.layers import MultiFlowBatchNorm2d as BN
        >>> norm = lambda c: BN(c, num_flows=3)
        >>> down = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 1, 2), norm(16))
        >>> block = FlowBottleneck(8, 4, 2, down, norm_layer=norm)
        >>> block(torch.rand(2, 8, 6, 6), 0).shape
        torch.Size([2, 16, 3, 3])
    """

    def _inner(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        out = self.relu(run_flow(self.bn1, self.conv1(x), flow))
        out = self.relu(run_flow(self.bn2, self.conv2(out), flow))
        out = run_flow(self.bn3, self.conv3(out), flow)
        out += self._identity(x, flow)  # in place, as torchvision does
        return self.relu(out)
