"""TDAM-ResNet3d: mmaction2's ResNet3d with TDAM's top-down attention blocks.

Jaiswal, Fernando and Tan, "TDAM: Top-Down Attention Module for Contextually
Guided Feature Selection in CNNs" (ECCV 2022), section 3 (eqs. 1-3: a block
runs its top sub-path for T computation steps and feeds a searchlight back
to a lower "bottom" map; eqs. 4-8: the searchlight and its channel then
spatial attention) and section 4 (placement in ResNets), carried from 2D to
3D: the attention (:class:`TopDownAttention` with ``dims=3``) pools over
T, H and W, its weights are bias-free 1x1x1 ``Conv3d``. The block semantics
are those of the 2D :mod:`td_plugins.models.layers.td_blocks`, i.e. the
official code (``shared/spec/methods.md`` section 1.3):

* the block runs its top sub-path ``num_steps`` (T) times and applies the
  attention T - 1 times in between (m >= 1), or T times in a row on the top
  (m = 0, as the official ``_static_recur_attention_forward_m0``); the *top*
  is the last conv's norm output before the residual addition;
* ``feedback_distance`` (m) is the number of convs between bottom and top.
  ``Bottleneck3d`` (depths 50/101/152): m = 0 (bottom = top, the module
  attends the ``conv3`` output alone, T times), 1 (bottom = ``conv2`` output
  after ReLU, ``conv3`` re-run), 2 (``conv1`` output after ReLU, ``conv2``
  and ``conv3`` re-run), 3 (the block input, ``conv1..conv3`` re-run).
  ``BasicBlock3d`` (depths 18/34): m = 0 (bottom = top = the ``conv2``
  output, T times), 1 (``conv1`` output after ReLU, ``conv2`` re-run) and 2
  (the block input, ``conv1``, ``conv2`` re-run);
* conv weights are shared across steps, every re-run conv has its own norm
  per step, the shortcut is computed once, the output is
  ``relu(top_{T-1} + shortcut(x))`` (then mmaction's optional non-local
  block).

Placement (spec section 1.4): every block of layer3 and layer4, except
ResNet-101 (layer3 blocks {0, 1, 2, 8, 13, 18, 22}) and ResNet-152 (the
official list), as :func:`default_td_blocks` gives them.

Parameter layout. The TD blocks subclass mmaction's ``Bottleneck3d`` /
``BasicBlock3d`` and keep their names (``layer3.0.conv1.conv.weight``,
``layer3.0.conv1.bn.weight``, ``layer3.0.downsample.conv.weight``, ...).
TDAM adds only ``layerK.i.td.{top_fc,bottom_fc,fuse}.weight`` and the
per-step norms ``layerK.i.bn{n}_{t}`` (the norm of ``conv{n}`` at step
``t >= 1``; the names of the official code and of the 2D
:class:`~td_plugins.models.backbones.TDAMResNet`). A plain ``ResNet3d``
checkpoint therefore loads with exactly those keys missing.

Initialisation and inflation (``init_weights``):

* from scratch (``pretrained=None``): ResNet3d's own init, which covers the
  TD parts as the official code does: every ``Conv3d`` (the attention's
  included) gets Kaiming normal (fan_out, ReLU), every BN weight 1 and bias
  0, and ``zero_init_residual`` zeroes only the step-0 last norm
  (``conv3.bn`` / ``conv2.bn``). The per-step norms keep weight 1, so with
  ``num_steps >= 2`` and m >= 1 the residual branch does *not* start at
  zero (spec section 1.9 item 6), as in the official network.
* ``pretrained2d=True`` (a 2D ImageNet ResNet, torchvision key layout):
  mmaction's inflation walks the ``ConvModule``s only, so it is unaffected
  by the TD modules and the per-step norms. Afterwards each per-step norm
  ``bn{n}_{t}`` takes the 2D checkpoint's ``layerK.i.bn{n}_{t}`` if it has
  one (a 2D TDAM checkpoint), else a copy of the inflated step-0 norm
  ``conv{n}.bn`` (affine and running statistics: the pretrained residual
  branch keeps its scale; with ``norm_eval=True`` note that these running
  statistics were measured before the attention gates). The attention's
  1x1 convs are inflated from ``layerK.i.td.*`` when the 2D checkpoint has
  them (a 2D :class:`TDAMResNet` checkpoint), otherwise they keep the
  Kaiming init.
* a 3D checkpoint (``pretrained2d=False``): mmaction's non-strict load;
  per-step norms absent from it are copied from their step-0 norm, absent
  attention convs keep the Kaiming init.

``num_steps = 1`` builds no attention module (nor per-step norms): the
network is the plain ResNet3d, and DDP finds no unused parameter.
``with_cp`` checkpoints every block (TD and plain) with
:func:`~td_plugins.models.layers.checkpoint.checkpoint_keep_stats`, so the
running statistics are updated once per step, as without checkpointing.

mmaction2 is imported only when the backbone is built, so ``import
td_plugins`` does not need it: the registered name
``td_plugins.TDAMResNet3d`` is a factory that creates the subclass of
``mmaction.models.ResNet3d`` on first use (see :func:`tdam_resnet3d_class`).
"""
import re
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ...registry import MODELS
from ..layers.checkpoint import checkpoint_keep_stats
from ..layers.td_attention import TopDownAttention, check_td_args
from ..layers.td_blocks import (FEEDBACK_DISTANCES, attends,
                                keep_stats_checkpoint_class)
from .resnet_common import RESNET_ARCH, BlockFactory
from .tdam_resnet import default_td_blocks

__all__ = ['TDAMResNet3d', 'tdam_resnet3d_class', 'td_block3d_classes',
           'check_tdam3d_args']


# Names of the per-step norms: ``bn{n}_{t}`` (norm of conv{n}, step t >= 1).
_STEP_NORM = re.compile(r'^bn(\d)_(\d+)$')

_CLASSES: Dict[str, type] = {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_block_args(block: str, feedback_distance: Any,
                      num_steps: Any, depth: Optional[int] = None) -> None:
    valid_m = FEEDBACK_DISTANCES[block]
    where = f'{block}3d' + ('' if depth is None else f' (depth {depth})')
    if not _is_int(feedback_distance) or feedback_distance not in valid_m:
        raise ValueError(f'feedback_distance must be one of {valid_m} for '
                         f'{where}, got {feedback_distance!r}')
    if not _is_int(num_steps) or num_steps < 1:
        raise ValueError(
            f'num_steps must be an integer >= 1, got {num_steps!r}')


def check_tdam3d_args(depth: Any, td_mode: Any, feedback_distance: Any,
                      num_steps: Any, reduction: Any, td_order: Any,
                      td_widths: Any) -> str:
    """Refuse invalid TDAM arguments; return the block kind of ``depth``.

    Raises:
        ValueError: naming the argument and its valid values.
    """
    if not _is_int(depth) or depth not in RESNET_ARCH:
        raise ValueError(f'depth must be one of {tuple(RESNET_ARCH)}, got '
                         f'{depth!r}')
    block = RESNET_ARCH[depth][0]
    check_td_args(td_mode, feedback_distance, FEEDBACK_DISTANCES[block],
                  f'{block}3d (depth {depth})', num_steps, reduction,
                  td_order, td_widths)
    return block


def _resolve_td_blocks(depth: int, stage_blocks: Sequence[int],
                       td_stages: Any, td_blocks: Any) -> List[List[int]]:
    """Validate ``td_stages`` / ``td_blocks``; return one sorted list per
    stage."""
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


def _build_classes() -> Dict[str, type]:
    """Create the blocks and the backbone (mmaction2 is imported here)."""
    if _CLASSES:
        return _CLASSES
    from mmaction.models.backbones.resnet3d import (BasicBlock3d,
                                                    Bottleneck3d, ResNet3d)
    from mmcv.cnn import build_norm_layer
    from mmengine.logging import MMLogger
    from mmengine.model.weight_init import kaiming_init
    from mmengine.runner.checkpoint import _load_checkpoint

    class _TD3dMixin:
        """Step loop of the 3D TD blocks; subclasses give ``_chains`` (the
        ConvModules between bottom and top, per m) and ``_first_step``."""

        _chains: Dict[int, Tuple[str, ...]] = {}

        def _init_td(self, bottom_channels: int, top_channels: int,
                     td_mode: str, feedback_distance: int, num_steps: int,
                     reduction: int, td_order: str, td_widths: str) -> None:
            self.feedback_distance = feedback_distance
            self.num_steps = num_steps
            # T = 1 with m >= 1 never attends: no module (DDP needs every
            # parameter used); m = 0 attends T >= 1 times.
            self.td = TopDownAttention(
                bottom_channels, top_channels, mode=td_mode,
                reduction=reduction, order=td_order, widths=td_widths,
                dims=3) if attends(feedback_distance, num_steps) else None
            for t in range(1, num_steps):
                for conv in self._chains[feedback_distance]:
                    channels = getattr(self, conv).conv.out_channels
                    norm = build_norm_layer(self.norm_cfg, channels)[1]
                    self.add_module(f'bn{conv[-1]}_{t}', norm)

        def step_norms(self) -> Iterator[Tuple[str, nn.Module, nn.Module]]:
            """Yield ``(name, per-step norm, step-0 norm of that conv)``."""
            for name, module in self.named_children():
                match = _STEP_NORM.match(name)
                if match:
                    yield name, module, getattr(
                        self, f'conv{match.group(1)}').norm

        def _rerun(self, x: torch.Tensor, t: int) -> torch.Tensor:
            chain = self._chains[self.feedback_distance]
            for i, conv in enumerate(chain):
                x = getattr(self, f'bn{conv[-1]}_{t}')(
                    getattr(self, conv).conv(x))
                if i < len(chain) - 1:
                    x = self.relu(x)
            return x

        def _residual(self, x: torch.Tensor,
                      steps: int) -> torch.Tensor:
            """``top_{steps-1} + shortcut(x)`` (before the final ReLU)."""
            identity = x if self.downsample is None else self.downsample(x)
            bottom, top = self._first_step(x)
            if self.feedback_distance == 0:
                for _ in range(steps):
                    top = self.td(top, top)
            else:
                for t in range(1, steps):
                    bottom = self.td(bottom, top)
                    top = self._rerun(bottom, t)
            return top + identity

        def forward_steps(self, x: torch.Tensor,
                          steps: Optional[int] = None) -> torch.Tensor:
            """Forward with only the first ``steps`` steps (1..T), as the
            official per-step evaluation does; ``None`` means T."""
            steps = self.num_steps if steps is None else steps
            if not _is_int(steps) or not 1 <= steps <= self.num_steps:
                raise ValueError(f'steps must be in [1, {self.num_steps}], '
                                 f'got {steps!r}')
            if self.with_cp and x.requires_grad:
                # running statistics updated once, as without checkpointing
                out = checkpoint_keep_stats(self._residual, x, steps,
                                            owner=self)
            else:
                out = self._residual(x, steps)
            out = self.relu(out)
            if self.non_local:
                out = self.non_local_block(out)
            return out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.forward_steps(x, self.num_steps)

    class TDBottleneck3d(_TD3dMixin, Bottleneck3d):
        """mmaction's ``Bottleneck3d`` with TDAM steps (m = 0..3).

        Parameter names stay ``Bottleneck3d``'s; TDAM adds ``td.*`` and the
        per-step norms ``bn{n}_{t}`` of the re-run convs.

        Args:
            inplanes (int): Input channels.
            planes (int): Width; the output has ``4 * planes`` channels.
            td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
            feedback_distance (int): m, 0..3 (see the module docstring).
                Defaults to 1.
            num_steps (int): T >= 1 (T = 1 with m >= 1 is the plain block;
                no attention module is built). Defaults to 2.
            reduction (int): r; hidden width ``4 * planes // r``.
                Defaults to 16.
            td_order (str): ``'channel->spatial'`` (eqs. 6-8),
                ``'spatial->channel'``, ``'spatial'``, ``'channel'`` or
                ``'parallel'`` (see :class:`TopDownAttention`). Defaults to
                ``'channel->spatial'``.
            td_widths (str): ``'code'`` or ``'paper'``. Defaults to
                ``'code'``.
            **kwargs: ``Bottleneck3d``'s other arguments (``spatial_stride``,
                ``temporal_stride``, ``downsample``, ``inflate``,
                ``inflate_style``, ``norm_cfg``, ``with_cp`` ...).

        Example:
            >>> import torch
            >>> from td_plugins.models.backbones.tdam_resnet3d import \\
            ...     td_block3d_classes
            >>> _, TDBottleneck3d = td_block3d_classes()
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
            _check_block_args('Bottleneck', feedback_distance, num_steps)
            super().__init__(inplanes, planes, **kwargs)
            out = self.conv3.conv.out_channels
            bottom = {0: out, 1: planes, 2: planes, 3: inplanes}[
                feedback_distance]
            self._init_td(bottom, out, td_mode, feedback_distance,
                          num_steps, reduction, td_order, td_widths)

        def _first_step(self, x: torch.Tensor) -> List[torch.Tensor]:
            out1 = self.conv1(x)
            out2 = self.conv2(out1)
            top = self.conv3(out2)
            bottom = (top, out2, out1, x)[self.feedback_distance]
            return [bottom, top]

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
            td_widths (str): ``'code'`` or ``'paper'``. Defaults to
                ``'code'``.
            **kwargs: ``BasicBlock3d``'s other arguments.

        Example:
            >>> import torch
            >>> from td_plugins.models.backbones.tdam_resnet3d import \\
            ...     td_block3d_classes
            >>> TDBasicBlock3d, _ = td_block3d_classes()
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
            _check_block_args('BasicBlock', feedback_distance, num_steps)
            super().__init__(inplanes, planes, **kwargs)
            bottom = inplanes if feedback_distance == 2 else planes
            self._init_td(bottom, self.conv2.conv.out_channels, td_mode,
                          feedback_distance, num_steps, reduction, td_order,
                          td_widths)

        def _first_step(self, x: torch.Tensor) -> List[torch.Tensor]:
            out1 = self.conv1(x)
            top = self.conv2(out1)
            return [(top, out1, x)[self.feedback_distance], top]

    class TDAMResNet3d(ResNet3d):
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
            td_blocks (Sequence[Sequence[int]], optional): Block indices per
                stage (one list per stage); overrides ``td_stages``.
                Defaults to the official lists (:func:`default_td_blocks`).
            td_order (str): ``'channel->spatial'`` (eqs. 6-8),
                ``'spatial->channel'``, ``'spatial'``, ``'channel'`` or
                ``'parallel'`` (see :class:`TopDownAttention`). Defaults to
                ``'channel->spatial'``.
            td_widths (str): ``'code'`` or ``'paper'`` (eq. 4).
                Defaults to ``'code'``.
            **kwargs: ``mmaction.models.ResNet3d`` arguments (``depth``
                defaults to 50, ``pretrained``, ``pretrained2d``,
                ``conv1_kernel``, ``inflate``, ``temporal_strides``,
                ``norm_cfg``, ``norm_eval``, ``with_cp``, ``frozen_stages``,
                ``out_indices``, ``zero_init_residual`` ...).

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
            block_kind = check_tdam3d_args(depth, td_mode, feedback_distance,
                                           num_steps, reduction, td_order,
                                           td_widths)
            num_stages = kwargs.get('num_stages', 4)
            stage_blocks = kwargs.get('stage_blocks') or \
                RESNET_ARCH[depth][1][:num_stages]
            self._td_layout = _resolve_td_blocks(depth, stage_blocks,
                                                 td_stages, td_blocks)
            # Plain blocks too: their with_cp must keep running statistics.
            self._td_block_types = (
                (keep_stats_checkpoint_class(Bottleneck3d), TDBottleneck3d)
                if block_kind == 'Bottleneck' else
                (keep_stats_checkpoint_class(BasicBlock3d), TDBasicBlock3d))
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
            """ResNet3d's ``make_res_layer`` with TD blocks at this stage's
            ``td_blocks`` indices. ResNet3d builds the stages in order and
            appends each name to ``res_layers`` after building it, so the
            stage being built is ``len(self.res_layers)``."""
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
            """ResNet3d's init (scratch, 2D inflation or 3D load), with the
            TD parts handled as the module docstring says."""
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
            """Take the TD parts from a checkpoint where it has them
            (inflating 2D ones), copy step-0 norms into the others."""
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

        def forward_steps(self, x: torch.Tensor) -> List[torch.Tensor]:
            """Per-step outputs of the last stage (official
            ``output_pred_over_t``): the stages before run once, then the
            last runs with its TD blocks stopped after step t, t = 1..T.
            Returns T tensors, the last equal to the normal output of the
            last stage."""
            x = self.conv1(x)
            if self.with_pool1:
                x = self.maxpool(x)
            for i, layer_name in enumerate(self.res_layers[:-1]):
                x = getattr(self, layer_name)(x)
                if i == 0 and self.with_pool2:
                    x = self.pool2(x)
            last = getattr(self, self.res_layers[-1])
            outs = []
            for t in range(1, self.num_steps + 1):
                y = x
                for block in last:
                    y = block.forward_steps(y, t) if isinstance(
                        block, _TD3dMixin) else block(y)
                if len(self.res_layers) == 1 and self.with_pool2:
                    y = self.pool2(y)
                outs.append(y)
            return outs

    _CLASSES.update(TDAMResNet3d=TDAMResNet3d, TDBottleneck3d=TDBottleneck3d,
                    TDBasicBlock3d=TDBasicBlock3d)
    return _CLASSES


def tdam_resnet3d_class() -> type:
    """The ``ResNet3d`` subclass (mmaction2 is imported here)."""
    return _build_classes()['TDAMResNet3d']


def td_block3d_classes() -> Tuple[type, type]:
    """``(TDBasicBlock3d, TDBottleneck3d)``, subclasses of mmaction's
    ``BasicBlock3d`` and ``Bottleneck3d``."""
    classes = _build_classes()
    return classes['TDBasicBlock3d'], classes['TDBottleneck3d']


@MODELS.register_module(name='TDAMResNet3d')
def TDAMResNet3d(**kwargs: Any) -> nn.Module:  # noqa: N802 (a class to users)
    """Build the TDAM ``ResNet3d`` (mmaction2 imported on first use).

    See :func:`tdam_resnet3d_class` / the class docstring for the arguments.

    Example:
        >>> import torch
        >>> model = TDAMResNet3d(depth=50, pretrained=None)
        >>> model.init_weights()
        >>> model.eval()  # ResNet3d.train returns None
        >>> model(torch.rand(1, 3, 8, 64, 64)).shape
        torch.Size([1, 2048, 4, 2, 2])
    """
    return tdam_resnet3d_class()(**kwargs)
