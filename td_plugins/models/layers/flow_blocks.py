"""torchvision's ResNet blocks, taking the TDAF flow: ``block(x, flow)``.

Pang et al., "TDAF" (AAAI 2021), section 4.1: in a TDAF ResNe(X)t "all the
BN layers are replaced by our MFBN" (eq. 4), which need the flow of each
call. :class:`FlowBasicBlock` and :class:`FlowBottleneck` compute exactly
torchvision's ``BasicBlock`` / ``Bottleneck`` (same parameter names, so
torchvision and mmdet ResNet weights load) with the flow passed to every
norm and to the ``downsample`` chain. ``with_cp`` checkpoints the block with
the flow captured, restoring the block's running statistics after the
recompute (:func:`~.checkpoint.checkpoint_keep_stats`), so a checkpointed
step equals a plain one.
"""
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from .checkpoint import checkpoint_keep_stats
from .flow import run_flow

__all__ = ['FlowBasicBlock', 'FlowBottleneck']


class _FlowBlockMixin:
    """``forward(x, flow)`` with optional checkpointing; the block class
    defines ``_inner(x, flow)``, its computation."""

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
    """torchvision's ``BasicBlock`` (same arguments) called as
    ``block(x, flow)``; norms are multi-flow BNs (or take no flow).

    Example:
        >>> import torch
        >>> from functools import partial
        >>> from td_plugins.models.layers import MultiFlowBatchNorm2d
        >>> block = FlowBasicBlock(
        ...     8, 8, norm_layer=partial(MultiFlowBatchNorm2d, num_flows=2))
        >>> block(torch.rand(2, 8, 6, 6), 1).shape
        torch.Size([2, 8, 6, 6])
    """

    def _inner(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        out = self.relu(run_flow(self.bn1, self.conv1(x), flow))
        out = run_flow(self.bn2, self.conv2(out), flow)
        return self.relu(out + self._identity(x, flow))


class FlowBottleneck(_FlowBlockMixin, Bottleneck):
    """torchvision's ``Bottleneck`` (same arguments, ResNeXt groups
    included) called as ``block(x, flow)``.

    Example:
        >>> import torch, torch.nn as nn
        >>> from functools import partial
        >>> from td_plugins.models.layers import MultiFlowBatchNorm2d
        >>> norm = partial(MultiFlowBatchNorm2d, num_flows=3)
        >>> down = nn.Sequential(nn.Conv2d(8, 16, 1, 2), norm(16))
        >>> block = FlowBottleneck(8, 4, stride=2, downsample=down,
        ...                        norm_layer=norm)
        >>> block(torch.rand(2, 8, 6, 6), 0).shape
        torch.Size([2, 16, 3, 3])
    """

    def _inner(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        out = self.relu(run_flow(self.bn1, self.conv1(x), flow))
        out = self.relu(run_flow(self.bn2, self.conv2(out), flow))
        out = run_flow(self.bn3, self.conv3(out), flow)
        return self.relu(out + self._identity(x, flow))
