"""ResNet blocks with TDAM's recurrent top-down attention inside.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 3.2 and Fig. 2, as the
official code implements it (``shared/spec/methods.md`` section 1.3): a block
runs its "top" sub-path ``T`` times (``num_steps``) and applies
:class:`TopDownAttention` ``T - 1`` times in between (m >= 1), or ``T``
times in a row on the top map (m = 0; official ``_static_recur_attention_
forward_m0`` loops ``for t in range(self.time_steps)``). The *bottom* map sits
``m`` (``feedback_distance``) convolutions below the top map, which is the
last BN's output before the residual addition; each step attends the current
bottom with the current top and re-runs the ``m`` convolutions from the
attended bottom, with conv weights shared across steps and a separate BN per
re-run conv and step (``bn3_1``, ``bn2_1``, ... as in the official code).
The shortcut is computed once, and the block returns
``relu(top_{T-1} + shortcut(x))``.

Bottleneck: m = 0 (bottom = top = ``bn3`` output, the module applied to it
T times, no conv re-run), 1 (bottom = ``conv2`` output after ReLU), 2
(``conv1`` output after ReLU), 3 (the block input). BasicBlock: m = 0
(bottom = top = ``bn2`` output, T times), 1 (``conv1`` output after ReLU),
2 (the block input), as the official ``BasicBlock``.

These subclass torchvision's blocks, so parameter names stay torchvision's
(``conv1``, ``bn1``, ..., ``downsample.0``) and TDAM adds only ``td.*`` and
the per-step BNs (none at m = 0). With ``T = 1`` and m >= 1 neither is built
(``td`` is None): the block is the plain one, and DDP finds no parameter
without a gradient. With m = 0 the module is built for every T >= 1 (it is
applied T times; T = 1 is one attention).

``with_cp`` checkpoints the whole block with
:func:`~td_plugins.models.layers.checkpoint.checkpoint_keep_stats`, so the
recompute in backward leaves the BN running statistics (per-step BNs
included) as one forward pass would: ``with_cp=True`` trains exactly what
``with_cp=False`` trains.
"""
from typing import Callable, List, Optional

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from .checkpoint import checkpoint_keep_stats
from .td_attention import TopDownAttention, _gap

__all__ = ['TDBasicBlock', 'TDBottleneck', 'TDStepsMixin',
           'KeepStatsCheckpointMixin', 'keep_stats_checkpoint_class',
           'FEEDBACK_DISTANCES', 'attends', 'check_td_block_args']

# Valid m per block type.
FEEDBACK_DISTANCES = {'BasicBlock': (0, 1, 2), 'Bottleneck': (0, 1, 2, 3)}


def attends(feedback_distance: int, num_steps: int) -> bool:
    """Whether a TD block with this m and T applies its attention at all
    (and so builds it): m = 0 applies it T >= 1 times, m >= 1 T - 1 times
    (official ``_static_recur_attention_forward_m*``)."""
    return feedback_distance == 0 or num_steps > 1


def check_td_block_args(block: str, feedback_distance: int,
                        num_steps: int) -> None:
    """Refuse an m the block type does not have and T < 1."""
    valid = FEEDBACK_DISTANCES[block]
    if isinstance(feedback_distance, bool) or feedback_distance not in valid:
        raise ValueError(f'feedback_distance must be one of {valid} for '
                         f'{block}, got {feedback_distance!r}')
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) \
            or num_steps < 1:
        raise ValueError(
            f'num_steps must be an integer >= 1, got {num_steps!r}')


class KeepStatsCheckpointMixin:
    """For the *plain* blocks of a TDAM host (mmaction's ``Bottleneck3d``,
    mmpretrain's ``InvertedResidual``), whose own ``with_cp`` uses
    ``torch.utils.checkpoint`` and so updates BN running statistics twice:
    put this mixin first and the whole block is checkpointed with
    :func:`checkpoint_keep_stats` instead (the base ``forward`` runs with
    ``with_cp`` switched off inside), so ``with_cp=True`` equals
    ``with_cp=False`` in outputs, gradients and statistics."""

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


_KEEP_STATS_CLASSES: dict = {}


def keep_stats_checkpoint_class(base: type) -> type:
    """``base`` with :class:`KeepStatsCheckpointMixin` in front (one class
    per base, named like it, so its instances still pass ``isinstance(.,
    base)``)."""
    if base not in _KEEP_STATS_CLASSES:
        _KEEP_STATS_CLASSES[base] = type(
            base.__name__, (KeepStatsCheckpointMixin, base),
            {'__module__': __name__,
             '__doc__': f'{base.__name__} whose with_cp keeps running '
                        f'statistics (KeepStatsCheckpointMixin).'})
    return _KEEP_STATS_CLASSES[base]


class TDStepsMixin:
    """``forward``, ``forward_steps`` and ``extra_repr`` of any block with
    TD steps (ResNet, ConvNeXt, MobileNetV3): the block defines
    ``_forward(x, steps=None)`` and the attributes ``num_steps``,
    ``feedback_distance`` and ``with_cp``. ``with_cp`` checkpoints
    ``_forward`` with :func:`checkpoint_keep_stats` (running statistics
    updated once per step, as without checkpointing)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return checkpoint_keep_stats(self._forward, x, owner=self)
        return self._forward(x)

    def forward_steps(self, x: torch.Tensor,
                      steps: Optional[int] = None) -> torch.Tensor:
        """Forward with only the first ``steps`` steps (t = 1..T; None is
        T), as the official per-step evaluation does."""
        steps = self.num_steps if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or \
                not 1 <= steps <= self.num_steps:
            raise ValueError(f'steps must be an integer in [1, '
                             f'{self.num_steps}], got {steps!r}')
        return self._forward(x, steps)

    def extra_repr(self) -> str:
        return (f'feedback_distance={self.feedback_distance}, '
                f'num_steps={self.num_steps}')


class _TDMixin(TDStepsMixin):
    """Step loop shared by both blocks; they define the convs to re-run."""

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
        check_td_block_args(self._block, feedback_distance, num_steps)
        super().__init__(inplanes, planes, stride, downsample, groups,
                         base_width, dilation, norm_layer)
        norm_layer = norm_layer or nn.BatchNorm2d
        chain = self._chains[feedback_distance]
        top_conv = self._chains[max(self._chains)][-1][0]
        top = getattr(self, top_conv).out_channels
        bottom = getattr(self, chain[0][0]).in_channels if chain else top
        self.feedback_distance = feedback_distance
        self.num_steps = num_steps
        self.with_cp = with_cp
        self.pool_early_tops = pool_early_tops
        # T = 1 with m >= 1 never attends: no module, so no parameter
        # without gradient. m = 0 attends T times, so T = 1 attends too.
        self.td = TopDownAttention(
            bottom, top, mode=td_mode, reduction=reduction, order=order,
            widths=widths) if attends(feedback_distance, num_steps) else None
        for t in range(1, num_steps):
            for conv, bn in chain:
                channels = getattr(self, conv).out_channels
                setattr(self, f'{bn}_{t}', norm_layer(channels))

    # Whether the last conv between bottom and top is a 1x1, stride-1,
    # bias-free convolution (so it commutes with global average pooling).
    _pointwise_last = False

    def _can_pool_top(self, norm: nn.Module) -> bool:
        """True when a step's top is only needed as its global average and
        that average can be taken *before* the last conv and norm, exactly:
        the conv is pointwise and the norm is a BN using running statistics
        (per-channel affine). Only m >= 1: with m = 0 the top is also the
        bottom."""
        return (self.pool_early_tops and self._pointwise_last
                and self.feedback_distance >= 1
                and isinstance(norm, nn.modules.batchnorm._BatchNorm)
                and norm.track_running_stats and not norm.training)

    def _rerun(self, x: torch.Tensor, t: int,
               last: bool = True) -> torch.Tensor:
        """Re-run the m convs from the attended bottom ``x`` with step t's
        norms; unless ``last``, return only the pooled top when exact."""
        chain = self._chains[self.feedback_distance]
        for i, (conv, bn) in enumerate(chain):
            norm = getattr(self, f'{bn}_{t}')
            if i == len(chain) - 1 and not last and self._can_pool_top(norm):
                x = _gap(x)
            x = norm(getattr(self, conv)(x))
            if i < len(chain) - 1:
                x = self.relu(x)
        return x

    def _steps(self, bottom: torch.Tensor, top: torch.Tensor,
               steps: int) -> torch.Tensor:
        """Run the attention of ``steps`` steps and return the last top:
        m = 0 applies it ``steps`` times to the top, m >= 1 re-runs steps
        1..steps-1."""
        if self.feedback_distance == 0:
            for _ in range(steps):
                top = self.td(top, top)
            return top
        for t in range(1, steps):
            bottom = self.td(bottom, top)
            top = self._rerun(bottom, t, last=t == steps - 1)
        return top

    def _forward(self, x: torch.Tensor,
                 steps: Optional[int] = None) -> torch.Tensor:
        steps = self.num_steps if steps is None else steps
        identity = x if self.downsample is None else self.downsample(x)
        bottom, top = self._first_step(x, last=steps == 1)
        top = self._steps(bottom, top, steps)
        top += identity  # in place, as torchvision's blocks (a BN output)
        return self.relu(top)


class TDBottleneck(_TDMixin, Bottleneck):
    """torchvision's Bottleneck (stride in conv2) with TDAM steps.

    Args:
        inplanes, planes, stride, downsample, groups, base_width, dilation,
            norm_layer: As torchvision's ``Bottleneck``.
        td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        feedback_distance (int): m, 0..3. Defaults to 1.
        num_steps (int): T >= 1 (T = 1 with m >= 1 is the plain block; no
            attention module is built). Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        order (str): Attention order (see :class:`TopDownAttention`).
            Defaults to ``'channel->spatial'``.
        widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        with_cp (bool): Gradient checkpointing of the block (running
            statistics kept as without it). Defaults to False.
        pool_early_tops (bool): Every top but the last is used only through
            its global average (the searchlight's input); when the last conv
            is pointwise and its BN uses running statistics (evaluation, or
            ``norm_eval``), average *before* that conv and BN, which is the
            same function without the full-size conv (ResNet-50: 4.55 ->
            4.10 GMACs at inference). Defaults to True.

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

    def _first_step(self, x: torch.Tensor,
                    last: bool = True) -> List[torch.Tensor]:
        m = self.feedback_distance
        out1 = self.relu(self.bn1(self.conv1(x)))
        out2 = self.relu(self.bn2(self.conv2(out1)))
        pooled = not last and self._can_pool_top(self.bn3)
        top = self.bn3(self.conv3(_gap(out2) if pooled else out2))
        bottom = {0: top, 1: out2, 2: out1, 3: x}[m]
        return [bottom, top]


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

    def _first_step(self, x: torch.Tensor,
                    last: bool = True) -> List[torch.Tensor]:
        out1 = self.relu(self.bn1(self.conv1(x)))
        top = self.bn2(self.conv2(out1))
        bottom = {0: top, 1: out1, 2: x}[self.feedback_distance]
        return [bottom, top]
