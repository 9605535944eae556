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
from .tdam_moments import moments_apply, moments_cheaper, pooled_conv_bn
from .tdam_steps import TDAMSteps, check_tdam_args

__all__ = ['TDBasicBlock', 'TDBottleneck', 'KeepStatsCheckpointMixin',
           'TRAIN_EARLY_TOPS', 'check_train_early_tops']

# How an early top is computed when its BN uses batch statistics.
TRAIN_EARLY_TOPS = ('auto', 'moments', 'full')


def check_train_early_tops(value: str, block: str = 'Bottleneck',
                           feedback_distance: int = 1,
                           num_steps: int = 2) -> None:
    """Refuse a ``train_early_tops`` the block cannot apply.

    ``'moments'`` needs early tops made by a 1x1 conv: a Bottleneck with
    m >= 1 and T >= 2.

    Example:
        >>> check_train_early_tops('moments', 'BasicBlock')
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: train_early_tops='moments' needs a Bottleneck block ...
    """
    if value not in TRAIN_EARLY_TOPS:
        raise ValueError(f'train_early_tops must be one of '
                         f'{TRAIN_EARLY_TOPS}, got {value!r}')
    if value == 'moments' and not (block == 'Bottleneck' and
                                   feedback_distance >= 1 and
                                   num_steps >= 2):
        raise ValueError(
            f"train_early_tops='moments' needs a Bottleneck block with "
            f'feedback_distance >= 1 and num_steps >= 2 (early tops from a '
            f'1x1 conv), got a {block} with feedback_distance='
            f"{feedback_distance}, num_steps={num_steps}; use 'auto' or "
            f"'full'")


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
                 with_cp: bool = False, pool_early_tops: bool = True,
                 train_early_tops: str = 'auto') -> None:
        check_tdam_args(self._block, feedback_distance, num_steps, td_mode,
                        reduction, order, widths)
        check_train_early_tops(train_early_tops, self._block,
                               feedback_distance, num_steps)
        super().__init__(inplanes, planes, stride, downsample, groups,
                         base_width, dilation, norm_layer)
        chain = self._chains[feedback_distance]
        top_conv = self._chains[max(self._chains)][-1][0]
        top = getattr(self, top_conv).out_channels
        bottom = getattr(self, chain[0][0]).in_channels if chain else top
        self.with_cp = with_cp
        self.pool_early_tops = pool_early_tops
        self.train_early_tops = train_early_tops
        self.init_steps(
            bottom, top, feedback_distance=feedback_distance,
            num_steps=num_steps, td_mode=td_mode, reduction=reduction,
            td_order=order, td_widths=widths,
            step_norms=[(bn, getattr(self, conv).out_channels)
                        for conv, bn in chain],
            norm_layer=norm_layer or nn.BatchNorm2d)
        if train_early_tops == 'moments':
            self._check_moments_norm()

    def _check_moments_norm(self) -> None:
        conv, bn = self._chains[max(self._chains)][-1]
        norm = getattr(self, bn)
        if not moments_apply(getattr(self, conv), norm, batch_stats=False):
            raise ValueError(
                f"train_early_tops='moments' needs {conv} to be a bias-free "
                f'1x1 nn.Conv2d and {bn} an nn.BatchNorm2d other than '
                f'SyncBatchNorm, got {bn} = {type(norm).__name__}; use '
                f"'auto' or 'full'")

    # Whether the last conv between bottom and top is a 1x1, stride-1,
    # bias-free convolution (so it commutes with global average pooling).
    _pointwise_last = False

    def _can_pool_top(self, norm: nn.Module) -> bool:
        """Whether an early top may be pooled before its last conv."""
        return (self.pool_early_tops and self._pointwise_last
                and self.feedback_distance >= 1
                and isinstance(norm, nn.modules.batchnorm._BatchNorm)
                and norm.track_running_stats and not norm.training)

    def _use_moments(self, conv: nn.Module, norm: nn.Module,
                     x: torch.Tensor) -> bool:
        """Whether an early top is taken from its input's moments."""
        if self.train_early_tops == 'full' or not self._pointwise_last or \
                self.feedback_distance < 1 or not moments_apply(conv, norm) \
                or x.numel() <= x.shape[1]:  # one value per channel
            return False
        return self.train_early_tops == 'moments' or moments_cheaper(
            x, conv.out_channels)

    def _top(self, conv: nn.Module, norm: nn.Module, x: torch.Tensor,
             last: bool) -> torch.Tensor:
        """``norm(conv(x))``; an early one pooled where exact."""
        if not last and self._can_pool_top(norm):
            return norm(conv(_gap(x)))
        if not last and self._use_moments(conv, norm, x):
            return pooled_conv_bn(x, conv, norm)
        return norm(conv(x))

    def rerun(self, x: torch.Tensor, t: int,
              last: bool = True) -> torch.Tensor:
        """Re-run the m convs from the attended bottom with step t's norms."""
        chain = self._chains[self.feedback_distance]
        for i, (conv, bn) in enumerate(chain):
            norm = getattr(self, f'{bn}_{t}')
            if i == len(chain) - 1:
                return self._top(getattr(self, conv), norm, x, last)
            x = self.relu(norm(getattr(self, conv)(x)))
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
        train_early_tops (str): With batch-statistic BNs, an early top from
            its input's moments: ``'auto'`` where exact and fewer MACs,
            ``'moments'`` where exact, ``'full'`` never (docs/tdam.md).
            Defaults to ``'auto'``.

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
        top = self._top(self.conv3, self.bn3, out2, last)
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
