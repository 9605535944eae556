"""torchvision's ResNet blocks with TDAM's recurrent top-down attention.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 3 (eqs. 1-3) and
Fig. 2; the loop is :class:`~td_plugins.models.layers.tdam_steps.TDAMSteps`.
See docs/tdam.md, "Host blocks".
"""
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from .checkpoint import checkpoint_keep_stats
from .tdam_attention import _gap
from .tdam_steps import TDAMSteps, check_tdam_args

__all__ = ['TDBasicBlock', 'TDBottleneck', 'KeepStatsCheckpointMixin']


class KeepStatsCheckpointMixin:
    """Put first in a plain block: its ``with_cp`` keeps BN statistics."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return checkpoint_keep_stats(self._forward_without_cp, x,
                                         owner=self)
        return super().forward(x)

    def _forward_without_cp(self, x: torch.Tensor) -> torch.Tensor:
        self.with_cp = False
        try:
            return super().forward(x)
        finally:
            self.with_cp = True


class _TDMixin(TDAMSteps):
    """What both blocks share; they give ``_chains`` and ``first_step``."""

    # (conv, norm prefix) of the convs between bottom and top, in order,
    # for each m; the ReLU comes after every norm but the last. The largest
    # m's chain ends at the top conv, and a chain's first conv reads the
    # bottom (m = 0: the bottom is the top).
    _chains: dict = {}
    _block: str = ''   # key of FEEDBACK_DISTANCES

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None, groups: int = 1,
                 base_width: int = 64, dilation: int = 1,
                 norm_layer: Optional[Callable[[int], nn.Module]] = None,
                 td_mode: str = 'joint', feedback_distance: int = 1,
                 num_steps: int = 2, reduction: int = 16,
                 order: str = 'channel->spatial', widths: str = 'code',
                 with_cp: bool = False, pool_early_tops: bool = True) -> None:
        check_tdam_args(self._block, feedback_distance, num_steps, td_mode,
                        reduction, order, widths)
        super().__init__(inplanes, planes, stride, downsample, groups,
                         base_width, dilation, norm_layer)
        chain = self._chains[feedback_distance]
        top_conv = self._chains[max(self._chains)][-1][0]
        top = getattr(self, top_conv).out_channels
        bottom = getattr(self, chain[0][0]).in_channels if chain else top
        self.with_cp = with_cp
        self.pool_early_tops = pool_early_tops
        self.init_steps(
            bottom, top, feedback_distance=feedback_distance,
            num_steps=num_steps, td_mode=td_mode, reduction=reduction,
            td_order=order, td_widths=widths,
            step_norms=[(bn, getattr(self, conv).out_channels)
                        for conv, bn in chain],
            norm_layer=norm_layer or nn.BatchNorm2d)

    # Whether the last conv between bottom and top is a 1x1, stride-1,
    # bias-free convolution (so it commutes with global average pooling).
    _pointwise_last = False

    def _can_pool_top(self, norm: nn.Module) -> bool:
        """Whether an early top may be pooled before its last conv."""
        return (self.pool_early_tops and self._pointwise_last
                and self.feedback_distance >= 1
                and isinstance(norm, nn.modules.batchnorm._BatchNorm)
                and norm.track_running_stats and not norm.training)

    def rerun(self, x: torch.Tensor, t: int,
              last: bool = True) -> torch.Tensor:
        """Re-run the m convs from the attended bottom with step t's norms."""
        chain = self._chains[self.feedback_distance]
        for i, (conv, bn) in enumerate(chain):
            norm = getattr(self, f'{bn}_{t}')
            if i == len(chain) - 1 and not last and self._can_pool_top(norm):
                x = _gap(x)
            x = norm(getattr(self, conv)(x))
            if i < len(chain) - 1:
                x = self.relu(x)
        return x

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)

    def finish(self, skip: torch.Tensor,
               top: torch.Tensor) -> torch.Tensor:
        top += skip  # in place, as torchvision's blocks (a BN output)
        return self.relu(top)


class TDBottleneck(_TDMixin, Bottleneck):
    """torchvision's Bottleneck (stride in conv2) with TDAM steps.

    Args:
        inplanes, planes, stride, downsample, groups, base_width, dilation,
            norm_layer: As torchvision's ``Bottleneck``.
        td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        feedback_distance (int): m, 0..3. Defaults to 1.
        num_steps (int): T >= 1. Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        order (str): Attention order (see :class:`TopDownAttention`).
            Defaults to ``'channel->spatial'``.
        widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        with_cp (bool): Checkpoint the block. Defaults to False.
        pool_early_tops (bool): Pool early tops before conv3 and bn3 where
            exact (docs/tdam.md). Defaults to True.

    Example:
        >>> import torch, torch.nn as nn
        >>> down = nn.Sequential(nn.Conv2d(256, 1024, 1, 2, bias=False),
        ...                      nn.BatchNorm2d(1024))
        >>> blk = TDBottleneck(256, 256, stride=2, downsample=down)
        >>> blk(torch.rand(1, 256, 28, 28)).shape
        torch.Size([1, 1024, 14, 14])
    """

    _chains = {
        0: [],
        1: [('conv3', 'bn3')],
        2: [('conv2', 'bn2'), ('conv3', 'bn3')],
        3: [('conv1', 'bn1'), ('conv2', 'bn2'), ('conv3', 'bn3')],
    }
    _block = 'Bottleneck'

    _pointwise_last = True  # conv3 is 1x1, stride 1, no bias

    def first_step(self, x: torch.Tensor, last: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        m = self.feedback_distance
        out1 = self.relu(self.bn1(self.conv1(x)))
        out2 = self.relu(self.bn2(self.conv2(out1)))
        pooled = not last and self._can_pool_top(self.bn3)
        top = self.bn3(self.conv3(_gap(out2) if pooled else out2))
        bottom = {0: top, 1: out2, 2: out1, 3: x}[m]
        return bottom, top


class TDBasicBlock(_TDMixin, BasicBlock):
    """torchvision's BasicBlock with TDAM steps (m = 0, 1 or 2).

    Args: as :class:`TDBottleneck` (``feedback_distance`` in {0, 1, 2}).

    Example:
        >>> import torch
        >>> blk = TDBasicBlock(64, 64, feedback_distance=2)
        >>> blk(torch.rand(1, 64, 9, 7)).shape
        torch.Size([1, 64, 9, 7])
    """

    _chains = {
        0: [],
        1: [('conv2', 'bn2')],
        2: [('conv1', 'bn1'), ('conv2', 'bn2')],
    }
    _block = 'BasicBlock'

    def first_step(self, x: torch.Tensor, last: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        out1 = self.relu(self.bn1(self.conv1(x)))
        top = self.bn2(self.conv2(out1))
        bottom = {0: top, 1: out1, 2: x}[self.feedback_distance]
        return bottom, top
