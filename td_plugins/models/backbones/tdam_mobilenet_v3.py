"""TDAM-MobileNetV3: mmpretrain's MobileNetV3 with TDAM in place of SE.

Jaiswal, Fernando and Tan, "TDAM: Top-Down Attention Module for Contextually
Guided Feature Selection in CNNs" (ECCV 2022), section 4: "For MobileNetV3
large, we apply our module at the final three layers, replacing the existing
SE blocks in those layers". The attention is
:class:`~td_plugins.models.layers.TopDownAttention` (searchlight ``S``,
eqs. 4-5; channel then spatial selection, eqs. 6-8).

No official TD-MobileNetV3 code was released (``shared/spec/methods.md``
sections 1.1, 1.4, 1.9 item 8), so the block below is **our choice**, made to
sit exactly where SE sat and to follow the semantics of the official ResNet
TD blocks (spec section 1.3):

* bottom ``X^0`` = the depthwise conv output (after its BN and activation),
  i.e. the SE module's input, ``mid_channels`` channels;
* top ``X^N`` = the projection (``linear_conv``: 1x1 conv + BN, no
  activation) output, ``out_channels`` channels, before the residual;
* ``feedback_distance`` m = 1 (default): each step t >= 1 attends the bottom
  and re-runs the projection conv from it, with the conv weights shared
  across steps and a separate per-step norm ``linear_conv_bn_<t>``;
* m = 2 (an extra option): bottom = the depthwise conv's input (the expand
  conv output, or the block input when there is no expansion); each step
  re-runs depthwise conv -> ``depthwise_conv_bn_<t>`` -> act -> projection
  conv -> ``linear_conv_bn_<t>``;
* ``T`` (``num_steps``, default 2) top sub-paths, ``T - 1`` attentions; the
  shortcut is added once, to the last top.

Checkpoints: the TD layers have no ``se`` module. Loading an mmpretrain
MobileNetV3 state dict or checkpoint (``load_state_dict``, mmengine's
``load_checkpoint``, ``init_cfg=dict(type='Pretrained', ...)``) therefore
finds the weights of the replaced SE modules (``layer13.se.*``, ... with any
prefix) without a home. The TD layers drop exactly those keys while loading
(with one INFO log line per layer), so the load report lists no unexpected
keys and only the TDAM parameters (``td.*``, ``linear_conv_bn_<t>.*`` and the
per-step norms' running statistics) as missing.

With the default widths (``td_widths='code'``, hidden width
``out_channels // r`` for both branches as in the official code), replacing
the SE of layers 13-15 of MobileNetV3-large removes 1,150,632 SE parameters
and adds 83,520 (TDjoint, m = 1, T = 2; 21,760 + 2 x 30,400 attention and
3 x 320 per-step BN): 2,971,952 -> 1,904,840 backbone parameters, -19.5% of
the 5,483,032 of the model with mmpretrain's ImageNet head
(``StackedLinearClsHead`` 960 -> 1280 -> 1000). ``td_widths='paper'``
(eq. 4's ``C0 // r`` bottom branch) adds 318,528 instead, -15.2%, which
matches the "15% lesser parameters" of the paper's section 4.4 with the
1000-class head (the paper does not say which widths or head it used; that
sentence sits in its 200-class ablation, where the smaller head makes the
reductions 18.7% and 23.9%).

``num_steps = 1`` builds no attention module (DDP finds no unused
parameter). ``with_cp`` checkpoints every inverted residual, TD or plain,
with :func:`~td_plugins.models.layers.checkpoint.checkpoint_keep_stats`, so
BN running statistics are updated once per step, as without it.

mmpretrain is imported only when the backbone is built, so ``import
td_plugins`` does not need it: the registered name
``td_plugins.TDAMMobileNetV3`` is a factory that creates the subclass on
first use.
"""
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from ...registry import MODELS
from ..layers.td_attention import TopDownAttention, check_td_args
from ..layers.td_blocks import TDStepsMixin, keep_stats_checkpoint_class

__all__ = ['TDAMMobileNetV3', 'tdam_mobilenet_v3_class',
           'td_inverted_residual_class', 'MOBILENET_FEEDBACK_DISTANCES',
           'check_td_mobilenet_args', 'se_layers']

MOBILENET_FEEDBACK_DISTANCES = (1, 2)

_BLOCK: Optional[type] = None
_CLASS: Optional[type] = None


def check_td_mobilenet_args(td_mode: str, feedback_distance: int,
                            num_steps: int, reduction: int, td_order: str,
                            td_widths: str) -> None:
    """Refuse TD arguments MobileNetV3 does not support (see
    :func:`~td_plugins.models.layers.td_attention.check_td_args`)."""
    check_td_args(td_mode, feedback_distance, MOBILENET_FEEDBACK_DISTANCES,
                  'MobileNetV3', num_steps, reduction, td_order, td_widths)


def se_layers(arch_setting: Sequence[Sequence[Any]]) -> Tuple[int, ...]:
    """Module indices ``i`` (``layer<i>``) of the SE inverted residuals of
    an mmpretrain MobileNetV3 ``arch_settings`` entry."""
    return tuple(i + 1 for i, params in enumerate(arch_setting) if params[3])


def td_inverted_residual_class() -> type:
    """The ``InvertedResidual`` subclass with TD steps (imports mmpretrain)."""
    global _BLOCK
    if _BLOCK is not None:
        return _BLOCK
    from mmcv.cnn import build_norm_layer
    from mmpretrain.models.utils import InvertedResidual

    class TDInvertedResidual(TDStepsMixin, InvertedResidual):
        """mmpretrain's inverted residual with TDAM instead of SE.

        See the module docstring for bottom, top and the steps.

        Args:
            in_channels (int): Input channels.
            out_channels (int): Output channels (top ``C^N``).
            mid_channels (int): Expanded channels (bottom ``C^0`` at m=1).
            kernel_size (int): Depthwise kernel size. Defaults to 3.
            stride (int): Depthwise stride. Defaults to 1.
            conv_cfg (dict, optional): Conv config. Defaults to None.
            norm_cfg (dict, optional): Norm config, also used for the
                per-step norms. Defaults to ``dict(type='BN')``.
            act_cfg (dict): Activation config. Defaults to
                ``dict(type='ReLU')``.
            drop_path_rate (float): Stochastic depth rate. Defaults to 0.
            with_cp (bool): Gradient checkpointing. Defaults to False.
            td_mode (str): ``'joint'`` (eq. 4) or ``'top'`` (eq. 5).
                Defaults to ``'joint'``.
            feedback_distance (int): m, 1 or 2. Defaults to 1.
            num_steps (int): T >= 1. Defaults to 2.
            reduction (int): r of the attention MLP. Defaults to 16.
            td_order (str): Attention order. Defaults to
                ``'channel->spatial'``.
            td_widths (str): ``'code'`` or ``'paper'``. Defaults to
                ``'code'``.
            init_cfg (dict | list[dict], optional): Init config. Defaults to
                None.

        Example:
            >>> import torch
            >>> from td_plugins.models.backbones.tdam_mobilenet_v3 import (
            ...     td_inverted_residual_class)
            >>> block = td_inverted_residual_class()(160, 160, 960, 5)
            >>> block(torch.rand(1, 160, 7, 5)).shape
            torch.Size([1, 160, 7, 5])
        """

        def __init__(self, in_channels: int, out_channels: int,
                     mid_channels: int, kernel_size: int = 3,
                     stride: int = 1, conv_cfg: Optional[dict] = None,
                     norm_cfg: Optional[dict] = dict(type='BN'),
                     act_cfg: dict = dict(type='ReLU'),
                     drop_path_rate: float = 0., with_cp: bool = False,
                     td_mode: str = 'joint', feedback_distance: int = 1,
                     num_steps: int = 2, reduction: int = 16,
                     td_order: str = 'channel->spatial',
                     td_widths: str = 'code',
                     init_cfg: Optional[dict] = None) -> None:
            check_td_mobilenet_args(td_mode, feedback_distance, num_steps,
                                    reduction, td_order, td_widths)
            super().__init__(in_channels, out_channels, mid_channels,
                             kernel_size=kernel_size, stride=stride,
                             se_cfg=None, conv_cfg=conv_cfg,
                             norm_cfg=norm_cfg, act_cfg=act_cfg,
                             drop_path_rate=drop_path_rate, with_cp=with_cp,
                             init_cfg=init_cfg)
            self.feedback_distance = feedback_distance
            self.num_steps = num_steps
            # the depthwise conv's input and output both have mid_channels
            # (without an expand conv, mmpretrain has in == mid channels)
            # T = 1 never attends: no module (DDP needs every parameter
            # used).
            self.td = TopDownAttention(
                mid_channels, out_channels, mode=td_mode,
                reduction=reduction, order=td_order,
                widths=td_widths) if num_steps > 1 else None

            def norm(channels: int) -> nn.Module:
                if norm_cfg is None:
                    return nn.Identity()
                return build_norm_layer(norm_cfg, channels)[1]

            for t in range(1, num_steps):
                if feedback_distance == 2:
                    self.add_module(f'depthwise_conv_bn_{t}',
                                    norm(mid_channels))
                self.add_module(f'linear_conv_bn_{t}', norm(out_channels))

        def _rerun(self, x: torch.Tensor, t: int) -> torch.Tensor:
            """The convs between bottom and top, with step t's norms."""
            if self.feedback_distance == 2:
                dw = self.depthwise_conv
                x = getattr(self, f'depthwise_conv_bn_{t}')(dw.conv(x))
                if dw.with_activation:
                    x = dw.activate(x)
            return getattr(self, f'linear_conv_bn_{t}')(
                self.linear_conv.conv(x))

        def _forward(self, x: torch.Tensor,
                     steps: Optional[int] = None) -> torch.Tensor:
            steps = self.num_steps if steps is None else steps
            pre = self.expand_conv(x) if self.with_expand_conv else x
            out = self.depthwise_conv(pre)
            bottom = pre if self.feedback_distance == 2 else out
            top = self.linear_conv(out)
            for t in range(1, steps):
                bottom = self.td(bottom, top)
                top = self._rerun(bottom, t)
            if self.with_res_shortcut:
                return x + self.drop_path(top)
            return top


        def _load_from_state_dict(self, state_dict: dict, prefix: str,
                                  local_metadata: dict, strict: bool,
                                  missing_keys: List[str],
                                  unexpected_keys: List[str],
                                  error_msgs: List[str]) -> None:
            # The replaced SE's weights are expected in plain MobileNetV3
            # checkpoints: drop them instead of reporting them.
            start = len(unexpected_keys)
            super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                          strict, missing_keys,
                                          unexpected_keys, error_msgs)
            se_prefix = prefix + 'se.'
            new = unexpected_keys[start:]
            dropped = [k for k in new if k.startswith(se_prefix)]
            if dropped:
                unexpected_keys[start:] = [
                    k for k in new if not k.startswith(se_prefix)]
                print_log(
                    f'TDAM replaces the SE module of this layer: ignored '
                    f'{len(dropped)} checkpoint tensors {se_prefix}*',
                    logger='current')

    _BLOCK = TDInvertedResidual
    return _BLOCK


def tdam_mobilenet_v3_class() -> type:
    """The ``MobileNetV3`` subclass (mmpretrain is imported here)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from mmpretrain.models.backbones.mobilenet_v3 import MobileNetV3
    from mmpretrain.models.utils import InvertedResidual

    block_class = td_inverted_residual_class()

    class TDAMMobileNetV3(MobileNetV3):
        """MobileNetV3 whose last SE layers use TDAM (module docstring).

        Args:
            arch (str): ``'large'``, ``'small'``, ``'small_075'`` or
                ``'small_050'``. Defaults to ``'large'`` (the paper's).
            td_mode (str): ``'joint'`` (eq. 4) or ``'top'`` (eq. 5).
                Defaults to ``'joint'``.
            feedback_distance (int): m; 1 re-runs the projection conv, 2
                also the depthwise conv. Defaults to 1.
            num_steps (int): T >= 1. T = 1 is MobileNetV3 without SE in the
                TD layers (no attention module is built). Defaults to 2.
            reduction (int): r of the attention MLP. Defaults to 16.
            td_layers (Sequence[int], optional): Indices ``i`` of the
                ``layer<i>`` modules whose SE becomes TDAM; only SE layers
                are valid. Defaults to the last three SE layers ((13, 14, 15)
                for ``'large'``).
            td_order (str): Attention order. Defaults to
                ``'channel->spatial'``.
            td_widths (str): ``'code'`` or ``'paper'``. Defaults to
                ``'code'``.
            **kwargs: ``mmpretrain.models.MobileNetV3`` arguments
                (``conv_cfg``, ``norm_cfg``, ``out_indices``,
                ``frozen_stages``, ``norm_eval``, ``with_cp``,
                ``init_cfg``).

        Example:
            >>> import torch
            >>> from td_plugins.models.backbones.tdam_mobilenet_v3 import (
            ...     TDAMMobileNetV3)
            >>> model = TDAMMobileNetV3(out_indices=(12, 16)).eval()
            >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 130))]
            [(1, 112, 7, 9), (1, 960, 4, 5)]
            >>> sum(p.numel() for p in model.parameters())
            1904840
        """

        def __init__(self, arch: str = 'large', td_mode: str = 'joint',
                     feedback_distance: int = 1, num_steps: int = 2,
                     reduction: int = 16,
                     td_layers: Optional[Sequence[int]] = None,
                     td_order: str = 'channel->spatial',
                     td_widths: str = 'code', **kwargs: Any) -> None:
            if arch not in self.arch_settings:
                raise ValueError(f'arch must be one of '
                                 f'{tuple(self.arch_settings)}, got {arch!r}')
            check_td_mobilenet_args(td_mode, feedback_distance, num_steps,
                                    reduction, td_order, td_widths)
            setting = self.arch_settings[arch]
            valid = se_layers(setting)
            if td_layers is None:
                td_layers = valid[-3:]
            if not isinstance(td_layers, (list, tuple)) or not all(
                    isinstance(i, int) and not isinstance(i, bool)
                    and i in valid for i in td_layers):
                raise ValueError(
                    f'td_layers must be a list of indices of the SE layers '
                    f'of arch {arch!r}, {valid}, got {td_layers!r}')
            super().__init__(arch=arch, **kwargs)
            self.td_mode = td_mode
            self.feedback_distance = feedback_distance
            self.num_steps = num_steps
            self.td_layers = tuple(sorted(set(td_layers)))
            if self.with_cp:
                # mmpretrain's plain layers checkpoint with
                # torch.utils.checkpoint (BN statistics updated twice).
                keep = keep_stats_checkpoint_class(InvertedResidual)
                for name in self.layers:
                    layer = getattr(self, name)
                    if type(layer) is InvertedResidual:
                        layer.__class__ = keep
            for i in self.td_layers:
                kernel_size, mid, out, _, act, stride = setting[i - 1]
                in_channels = setting[i - 2][2] if i > 1 else 16
                old = getattr(self, f'layer{i}')
                new = block_class(
                    in_channels, out, mid, kernel_size=kernel_size,
                    stride=stride, conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg, act_cfg=dict(type=act),
                    with_cp=self.with_cp, td_mode=td_mode,
                    feedback_distance=feedback_distance,
                    num_steps=num_steps, reduction=reduction,
                    td_order=td_order, td_widths=td_widths)
                # Keep the plain layer's (initial) weights, without its SE.
                new.load_state_dict(
                    {k: v for k, v in old.state_dict().items()
                     if not k.startswith('se.')}, strict=False)
                setattr(self, f'layer{i}', new)

        def forward_steps(self, x: torch.Tensor
                          ) -> List[Tuple[torch.Tensor, ...]]:
            """Outputs per step: the layers before the last TD layer run
            once, the last TD layer stops after step t, for t = 1..T.
            Returns T tuples shaped like :meth:`forward`'s, the last equal
            to it."""
            if not self.td_layers:
                raise ValueError('forward_steps needs td_layers, got ()')
            k = self.td_layers[-1]
            prefix = []
            for i, name in enumerate(self.layers[:k]):
                x = getattr(self, name)(x)
                if i in self.out_indices:
                    prefix.append(x)
            results = []
            for t in range(1, self.num_steps + 1):
                y = getattr(self, self.layers[k]).forward_steps(x, t)
                outs = list(prefix) + ([y] if k in self.out_indices else [])
                for i in range(k + 1, len(self.layers)):
                    y = getattr(self, self.layers[i])(y)
                    if i in self.out_indices:
                        outs.append(y)
                results.append(tuple(outs))
            return results

        def train(self, mode: bool = True) -> 'TDAMMobileNetV3':
            # MobileNetV3.train returns None; nn.Module's contract is self.
            super().train(mode)
            return self

        def td_parameter_names(self) -> List[str]:
            """Names of the parameters TDAM adds (for load reports)."""
            return [name for name, _ in self.named_parameters()
                    if '.td.' in name or '_bn_' in name]

    _CLASS = TDAMMobileNetV3
    return _CLASS


@MODELS.register_module(name='TDAMMobileNetV3')
def TDAMMobileNetV3(**kwargs: Any) -> nn.Module:  # noqa: N802 (a class)
    """Build the TDAM ``MobileNetV3`` (mmpretrain imported on first use).

    See :func:`tdam_mobilenet_v3_class` for the arguments.
    """
    return tdam_mobilenet_v3_class()(**kwargs)
