"""TDAM-ResNet3d: mmaction2's ResNet3d with TDAM's top-down attention blocks.

Jaiswal, Fernando and Tan, "TDAM: Top-Down Attention Module for Contextually
Guided Feature Selection in CNNs" (ECCV 2022), section 3 (eqs. 1-3 the steps,
eqs. 4-8 the searchlight) and section 4 (placement in ResNets), carried from
2D to 3D: the attention pools over T, H and W with 1x1x1 convs. Blocks keep
mmaction's parameter names and add ``td.*`` and the per-step norms
``bn{n}_{t}``; initialisation and 2D inflation are in docs/tdam.md
("TDAM-ResNet3d").
"""
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d import (
    BasicBlock3d,
    Bottleneck3d,
    ResNet3d,
)
from mmcv.cnn import build_norm_layer
from mmengine.logging import MMLogger
from mmengine.model.weight_init import kaiming_init
from mmengine.runner.checkpoint import _load_checkpoint

from ...registry import MODELS
from ..layers.tdam_blocks import KeepStatsCheckpointMixin
from ..layers.tdam_steps import (
    TDAMSteps,
    TDAMStepsBackbone,
    check_tdam_args,
    run_to_step,
    same_pairs,
)
from .resnet_common import RESNET_ARCH, BlockFactory
from .tdam_resnet import default_td_blocks

__all__ = ['KeepStatsBasicBlock3d', 'KeepStatsBottleneck3d', 'TDAMResNet3d',
           'TDBasicBlock3d', 'TDBottleneck3d']


# Names of the per-step norms: ``bn{n}_{t}`` (norm of conv{n}, step t >= 1).
_STEP_NORM = re.compile(r'^bn(\d)_(\d+)$')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _resolve_td_blocks(depth: int, stage_blocks: Sequence[int],
                       td_stages: Any, td_blocks: Any) -> List[List[int]]:
    """Checked ``td_stages`` / ``td_blocks``: a sorted list per stage."""
    num_stages = len(stage_blocks)
    if td_blocks is None:
        if not isinstance(td_stages, (list, tuple)) or not all(
                _is_int(s) and 0 <= s < num_stages for s in td_stages):
            raise ValueError(f'td_stages must be stage indices in '
                             f'[0, {num_stages - 1}], got {td_stages!r}')
        official = default_td_blocks(depth, tuple(td_stages))
        standard = RESNET_ARCH[depth][1]
        td_blocks = [
            official[s] if n == standard[s] else
            (list(range(n)) if s in td_stages else [])
            for s, n in enumerate(stage_blocks)
        ]
    ok = isinstance(td_blocks, (list, tuple)) and \
        len(td_blocks) == num_stages
    if ok:
        for ids, n in zip(td_blocks, stage_blocks):
            if not isinstance(ids, (list, tuple)) or not all(
                    _is_int(i) and 0 <= i < n for i in ids):
                ok = False
    if not ok:
        ranges = ', '.join(f'[0, {n - 1}]' for n in stage_blocks)
        raise ValueError(
            f'td_blocks must be {num_stages} lists of block indices, one per '
            f'stage, within {ranges}; got {td_blocks!r}')
    return [sorted(set(ids)) for ids in td_blocks]


class KeepStatsBottleneck3d(KeepStatsCheckpointMixin, Bottleneck3d):
    """``Bottleneck3d`` whose ``with_cp`` keeps running statistics."""


class KeepStatsBasicBlock3d(KeepStatsCheckpointMixin, BasicBlock3d):
    """``BasicBlock3d`` whose ``with_cp`` keeps running statistics."""


class _TD3dMixin(TDAMSteps):
    """What both 3D blocks share (they give ``_chains`` per m)."""

    _chains: Dict[int, Tuple[str, ...]] = {}

    def _init_td(self, bottom_channels: int, top_channels: int,
                 td_mode: str, feedback_distance: int, num_steps: int,
                 reduction: int, td_order: str, td_widths: str) -> None:
        self.init_steps(
            bottom_channels, top_channels,
            feedback_distance=feedback_distance, num_steps=num_steps,
            td_mode=td_mode, reduction=reduction, td_order=td_order,
            td_widths=td_widths, dims=3,
            step_norms=[(f'bn{c[-1]}', getattr(self, c).conv.out_channels)
                        for c in self._chains[feedback_distance]],
            norm_layer=lambda c: build_norm_layer(self.norm_cfg, c)[1])

    def step_norms(self) -> Iterator[Tuple[str, nn.Module, nn.Module]]:
        """Yield ``(name, per-step norm, step-0 norm of that conv)``."""
        for name, module in self.named_children():
            match = _STEP_NORM.match(name)
            if match:
                yield name, module, getattr(
                    self, f'conv{match.group(1)}').norm

    def rerun(self, x: torch.Tensor, t: int,
              last: bool = True) -> torch.Tensor:
        chain = self._chains[self.feedback_distance]
        for i, conv in enumerate(chain):
            x = getattr(self, f'bn{conv[-1]}_{t}')(
                getattr(self, conv).conv(x))
            if i < len(chain) - 1:
                x = self.relu(x)
        return x

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else self.downsample(x)

    def finish(self, skip: torch.Tensor,
               top: torch.Tensor) -> torch.Tensor:
        out = self.relu(top + skip)
        if self.non_local:
            out = self.non_local_block(out)
        return out


class TDBottleneck3d(_TD3dMixin, Bottleneck3d):
    """mmaction's ``Bottleneck3d`` with TDAM steps (m = 0..3).

    Args:
        inplanes (int): Input channels.
        planes (int): Width; the output has ``4 * planes`` channels.
        td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        feedback_distance (int): m, 0..3. Defaults to 1.
        num_steps (int): T >= 1 (T = 1 with m >= 1 is the plain block;
            no attention module is built). Defaults to 2.
        reduction (int): r; hidden width ``4 * planes // r``. Defaults to 16.
        td_order (str): See :class:`TopDownAttention`. Defaults to
            ``'channel->spatial'``.
        td_widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        **kwargs: ``Bottleneck3d``'s other arguments.

    Example:
        >>> import torch
        >>> from td_plugins.models.backbones.tdam_resnet3d import \\
        ...     TDBottleneck3d
        >>> blk = TDBottleneck3d(256, 64).eval()
        >>> blk(torch.rand(1, 256, 4, 9, 7)).shape
        torch.Size([1, 256, 4, 9, 7])
    """

    _chains = {0: (), 1: ('conv3', ), 2: ('conv2', 'conv3'),
               3: ('conv1', 'conv2', 'conv3')}

    def __init__(self, inplanes: int, planes: int, *,
                 td_mode: str = 'joint', feedback_distance: int = 1,
                 num_steps: int = 2, reduction: int = 16,
                 td_order: str = 'channel->spatial',
                 td_widths: str = 'code', **kwargs: Any) -> None:
        check_tdam_args('Bottleneck', feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths, 'Bottleneck3d')
        super().__init__(inplanes, planes, **kwargs)
        out = self.conv3.conv.out_channels
        bottom = {0: out, 1: planes, 2: planes, 3: inplanes}[
            feedback_distance]
        self._init_td(bottom, out, td_mode, feedback_distance,
                      num_steps, reduction, td_order, td_widths)

    def first_step(self, x: torch.Tensor, last: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        out1 = self.conv1(x)
        out2 = self.conv2(out1)
        top = self.conv3(out2)
        return (top, out2, out1, x)[self.feedback_distance], top

class TDBasicBlock3d(_TD3dMixin, BasicBlock3d):
    """mmaction's ``BasicBlock3d`` with TDAM steps (m = 0, 1 or 2).

    Args:
        inplanes (int): Input channels.
        planes (int): Output channels.
        td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        feedback_distance (int): m, 0 (bottom = top, T attentions), 1
            (bottom = ``conv1`` output) or 2 (bottom = block input).
            Defaults to 1.
        num_steps (int): T >= 1. Defaults to 2.
        reduction (int): r; hidden width ``planes // r``. Defaults to 16.
        td_order (str): See :class:`TopDownAttention`. Defaults to
            ``'channel->spatial'``.
        td_widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        **kwargs: ``BasicBlock3d``'s other arguments.

    Example:
        >>> import torch
        >>> from td_plugins.models.backbones.tdam_resnet3d import \\
        ...     TDBasicBlock3d
        >>> blk = TDBasicBlock3d(64, 64, feedback_distance=2).eval()
        >>> blk(torch.rand(1, 64, 4, 9, 7)).shape
        torch.Size([1, 64, 4, 9, 7])
    """

    _chains = {0: (), 1: ('conv2', ), 2: ('conv1', 'conv2')}

    def __init__(self, inplanes: int, planes: int, *,
                 td_mode: str = 'joint', feedback_distance: int = 1,
                 num_steps: int = 2, reduction: int = 16,
                 td_order: str = 'channel->spatial',
                 td_widths: str = 'code', **kwargs: Any) -> None:
        check_tdam_args('BasicBlock', feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths, 'BasicBlock3d')
        super().__init__(inplanes, planes, **kwargs)
        bottom = inplanes if feedback_distance == 2 else planes
        self._init_td(bottom, self.conv2.conv.out_channels, td_mode,
                      feedback_distance, num_steps, reduction, td_order,
                      td_widths)

    def first_step(self, x: torch.Tensor, last: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        out1 = self.conv1(x)
        top = self.conv2(out1)
        return (top, out1, x)[self.feedback_distance], top

@MODELS.register_module()
class TDAMResNet3d(TDAMStepsBackbone, ResNet3d):
    """mmaction2's ResNet3d with TDAM blocks (see the module docstring).

    Args:
        td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        feedback_distance (int): m; 0..3 for the Bottleneck3d depths
            (50, 101, 152), 0..2 for the BasicBlock3d depths (18, 34).
            Defaults to 1.
        num_steps (int): T >= 1. Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        td_stages (Sequence[int]): Stages whose blocks get TD when
            ``td_blocks`` is None. Defaults to (2, 3).
        td_blocks (Sequence[Sequence[int]], optional): Block indices, one
            list per stage; overrides ``td_stages``. Defaults to the
            official lists (:func:`default_td_blocks`).
        td_order (str): See :class:`TopDownAttention`. Defaults to
            ``'channel->spatial'``.
        td_widths (str): ``'code'`` or ``'paper'`` (eq. 4).
            Defaults to ``'code'``.
        **kwargs: ``mmaction.models.ResNet3d`` arguments (``depth``
            defaults to 50).

    Example:
        >>> import torch
        >>> from td_plugins.models.backbones.tdam_resnet3d import \\
        ...     TDAMResNet3d
        >>> model = TDAMResNet3d(depth=18, pretrained=None)
        >>> model.init_weights()
        >>> model(torch.rand(2, 3, 8, 64, 64)).shape
        torch.Size([2, 512, 4, 2, 2])
    """

    def __init__(self, td_mode: str = 'joint',
                 feedback_distance: int = 1, num_steps: int = 2,
                 reduction: int = 16, td_stages: Sequence[int] = (2, 3),
                 td_blocks: Optional[Sequence[Sequence[int]]] = None,
                 td_order: str = 'channel->spatial',
                 td_widths: str = 'code', **kwargs: Any) -> None:
        depth = kwargs.setdefault('depth', 50)
        if not _is_int(depth) or depth not in RESNET_ARCH:
            raise ValueError(f'depth must be one of {tuple(RESNET_ARCH)}, '
                             f'got {depth!r}')
        block_kind = RESNET_ARCH[depth][0]
        check_tdam_args(block_kind, feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths,
                        f'{block_kind}3d (depth {depth})')
        num_stages = kwargs.get('num_stages', 4)
        stage_blocks = kwargs.get('stage_blocks') or \
            RESNET_ARCH[depth][1][:num_stages]
        self._td_layout = _resolve_td_blocks(depth, stage_blocks,
                                             td_stages, td_blocks)
        # Plain blocks too: their with_cp must keep running statistics.
        self._td_block_types = (
            (KeepStatsBottleneck3d, TDBottleneck3d)
            if block_kind == 'Bottleneck' else
            (KeepStatsBasicBlock3d, TDBasicBlock3d))
        self._td_kwargs = dict(
            td_mode=td_mode, feedback_distance=feedback_distance,
            num_steps=num_steps, reduction=reduction, td_order=td_order,
            td_widths=td_widths)
        super().__init__(**kwargs)
        self.num_steps = num_steps
        self.feedback_distance = feedback_distance
        self.td_blocks = self._td_layout

    def make_res_layer(self, block: type, inplanes: int, planes: int,
                       blocks: int, **kwargs: Any) -> nn.Module:
        """ResNet3d's ``make_res_layer`` with this stage's TD blocks."""
        # ResNet3d builds the stages in order and appends each name to
        # res_layers after building it: this stage is len(res_layers).
        stage = len(self.res_layers)
        plain, td = self._td_block_types
        factory = BlockFactory(plain, td, [blocks],
                               [self._td_layout[stage]], self._td_kwargs)
        return ResNet3d.make_res_layer(factory, inplanes, planes,
                                       blocks, **kwargs)

    def named_td_blocks(self) -> Iterator[Tuple[str, nn.Module]]:
        """``(name, block)`` of every TD block."""
        for name, module in self.named_modules():
            if isinstance(module, _TD3dMixin):
                yield name, module

    def td_parameter_names(self) -> Dict[str, List[str]]:
        """Names of the parameters TDAM adds, per kind."""
        names: Dict[str, List[str]] = {'attention': [], 'step_norms': []}
        for prefix, block in self.named_td_blocks():
            for name, _ in (block.td.named_parameters()
                            if block.td is not None else ()):
                names['attention'].append(f'{prefix}.td.{name}')
            for norm_name, norm, _ in block.step_norms():
                for name, _ in norm.named_parameters():
                    names['step_norms'].append(
                        f'{prefix}.{norm_name}.{name}')
        return names

    def init_weights(self, pretrained: Optional[str] = None) -> None:
        """ResNet3d's init, then the TD parts (docs/tdam.md)."""
        # Kaiming first (ResNet3d does it too when training from scratch,
        # but not before loading a checkpoint that may lack these).
        for _, block in self.named_td_blocks():
            for module in (block.td.modules()
                           if block.td is not None else ()):
                if isinstance(module, nn.Conv3d):
                    kaiming_init(module)
        super().init_weights(pretrained)
        if isinstance(self.pretrained, str) and not self.pretrained2d:
            state = self._load_state(self.pretrained)
            self._init_td_from(state, inflate=False)

    def inflate_weights(self, logger: MMLogger) -> None:
        """mmaction's 2D->3D inflation, then the TD parts."""
        super().inflate_weights(logger)
        self._init_td_from(self._load_state(self.pretrained),
                           inflate=True, logger=logger)

    @staticmethod
    def _load_state(path: str) -> Dict[str, torch.Tensor]:
        state = _load_checkpoint(path, map_location='cpu')
        if 'state_dict' in state:
            state = state['state_dict']
        return {re.sub(r'^module\.', '', k): v for k, v in state.items()}

    def _init_td_from(self, state: Dict[str, torch.Tensor],
                      inflate: bool,
                      logger: Optional[MMLogger] = None) -> None:
        """Load (or inflate) TD parts; copy step-0 norms elsewhere."""
        taken: List[str] = []
        copied: List[str] = []
        for prefix, block in self.named_td_blocks():
            if inflate and block.td is not None:
                for name, conv in block.td.named_children():
                    key = f'{prefix}.td.{name}'
                    weight = state.get(f'{key}.weight')
                    shape = conv.weight.shape
                    if weight is not None and \
                            weight.shape == shape[:2] + shape[3:]:
                        self._inflate_conv_params(conv, state, key, taken)
            for name, norm, step0 in block.step_norms():
                key = f'{prefix}.{name}'
                if f'{key}.weight' in state:
                    if inflate:
                        self._inflate_bn_params(norm, state, key, taken)
                else:
                    norm.load_state_dict(step0.state_dict())
                    copied.append(key)
        if logger is not None:
            logger.info(f'TDAMResNet3d: {len(taken)} TD tensors taken '
                        f'from the 2D checkpoint; per-step norms copied '
                        f'from their step-0 norm: {copied}')

    def steps_head(self, x: torch.Tensor
                   ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, ...]]]:
        """Stem and all stages but the last, once (``output_pred_over_t``)."""
        x = self.conv1(x)
        if self.with_pool1:
            x = self.maxpool(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers[:-1]):
            x = getattr(self, layer_name)(x)
            if i == 0 and self.with_pool2:
                x = self.pool2(x)
            if i in self.out_indices:
                outs.append(x)
        return x, same_pairs(outs)

    def steps_tail(self, x: torch.Tensor,
                   t: int) -> List[Tuple[torch.Tensor, ...]]:
        """The last stage with its TD blocks stopped after step t."""
        last = len(self.res_layers) - 1
        y = run_to_step(getattr(self, self.res_layers[-1]), x, t)
        if last == 0 and self.with_pool2:
            y = self.pool2(y)
        return same_pairs([y] if last in self.out_indices else [])
