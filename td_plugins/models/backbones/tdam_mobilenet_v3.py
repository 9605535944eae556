"""TDAM-MobileNetV3: mmpretrain's MobileNetV3 with TDAM in place of SE.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), sections 3 and 4 ("For
MobileNetV3 large, we apply our module at the final three layers, replacing
the existing SE blocks"). No official code exists: docs/tdam.md, "Host
blocks", has the block and its parameter counts.
"""
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmpretrain.models.backbones.mobilenet_v3 import MobileNetV3
from mmpretrain.models.utils import InvertedResidual

from ...registry import MODELS
from ..layers.tdam_blocks import KeepStatsCheckpointMixin
from ..layers.tdam_steps import (
    TDAMSteps,
    TDAMStepsBackbone,
    check_tdam_args,
    same_pairs,
)

__all__ = ['KeepStatsInvertedResidual', 'TDAMMobileNetV3',
           'TDInvertedResidual', 'se_layers']


def se_layers(arch_setting: Sequence[Sequence[Any]]) -> Tuple[int, ...]:
    """Indices ``i`` (``layer<i>``) of an arch's SE inverted residuals."""
    return tuple(i + 1 for i, params in enumerate(arch_setting) if params[3])


class KeepStatsInvertedResidual(KeepStatsCheckpointMixin, InvertedResidual):
    """``InvertedResidual`` whose ``with_cp`` keeps running statistics."""


class TDInvertedResidual(TDAMSteps, InvertedResidual):
    """mmpretrain's inverted residual with TDAM instead of SE.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (top ``C^N``).
        mid_channels (int): Expanded channels (bottom ``C^0`` at m=1).
        kernel_size (int): Depthwise kernel size. Defaults to 3.
        stride (int): Depthwise stride. Defaults to 1.
        conv_cfg (dict, optional): Conv config. Defaults to None.
        norm_cfg (dict, optional): Norm config (also the per-step norms).
            Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='ReLU')``.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        with_cp (bool): Gradient checkpointing. Defaults to False.
        td_mode (str): 'joint' (eq. 4) or 'top' (eq. 5). Defaults to 'joint'.
        feedback_distance (int): m, 1 or 2. Defaults to 1.
        num_steps (int): T >= 1. Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        td_order (str): Attention order. Defaults to 'channel->spatial'.
        td_widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        init_cfg (dict | list[dict], optional): Defaults to None.

    Example:
        >>> import torch
        >>> block = TDInvertedResidual(160, 160, 960, 5)
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
        check_tdam_args('MobileNetV3', feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths)
        super().__init__(in_channels, out_channels, mid_channels,
                         kernel_size=kernel_size, stride=stride,
                         se_cfg=None, conv_cfg=conv_cfg,
                         norm_cfg=norm_cfg, act_cfg=act_cfg,
                         drop_path_rate=drop_path_rate, with_cp=with_cp,
                         init_cfg=init_cfg)

        def norm(channels: int) -> nn.Module:
            if norm_cfg is None:
                return nn.Identity()
            return build_norm_layer(norm_cfg, channels)[1]

        # the depthwise conv's input and output both have mid_channels
        # (without an expand conv, mmpretrain has in == mid channels)
        step_norms = [('linear_conv_bn', out_channels)]
        if feedback_distance == 2:
            step_norms.insert(0, ('depthwise_conv_bn', mid_channels))
        self.init_steps(mid_channels, out_channels,
                        feedback_distance=feedback_distance,
                        num_steps=num_steps, td_mode=td_mode,
                        reduction=reduction, td_order=td_order,
                        td_widths=td_widths, step_norms=step_norms,
                        norm_layer=norm)

    def first_step(self, x: torch.Tensor, last: bool = True
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
        pre = self.expand_conv(x) if self.with_expand_conv else x
        out = self.depthwise_conv(pre)
        bottom = pre if self.feedback_distance == 2 else out
        return bottom, self.linear_conv(out)

    def rerun(self, x: torch.Tensor, t: int,
              last: bool = True) -> torch.Tensor:
        """The convs between bottom and top, with step t's norms."""
        if self.feedback_distance == 2:
            dw = self.depthwise_conv
            x = getattr(self, f'depthwise_conv_bn_{t}')(dw.conv(x))
            if dw.with_activation:
                x = dw.activate(x)
        return getattr(self, f'linear_conv_bn_{t}')(
            self.linear_conv.conv(x))

    def finish(self, x: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
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


@MODELS.register_module()
class TDAMMobileNetV3(TDAMStepsBackbone, MobileNetV3):
    """MobileNetV3 whose last SE layers use TDAM (docs/tdam.md, "MobileNetV3").

    Args:
        arch (str): ``'large'``, ``'small'``, ``'small_075'`` or
            ``'small_050'``. Defaults to ``'large'`` (the paper's).
        td_mode (str): 'joint' (eq. 4) or 'top' (eq. 5). Defaults to 'joint'.
        feedback_distance (int): m, 1 or 2. Defaults to 1.
        num_steps (int): T >= 1 (1: neither SE nor TD there). Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        td_layers (Sequence[int], optional): SE layers ``layer<i>`` to
            convert. Defaults to the last three ((13, 14, 15) for 'large').
        td_order (str): Attention order. Defaults to 'channel->spatial'.
        td_widths (str): ``'code'`` or ``'paper'``. Defaults to ``'code'``.
        **kwargs: ``mmpretrain.models.MobileNetV3`` arguments.

    Example:
        >>> import torch
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
        check_tdam_args('MobileNetV3', feedback_distance, num_steps, td_mode,
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
            for name in self.layers:
                layer = getattr(self, name)
                if type(layer) is InvertedResidual:
                    layer.__class__ = KeepStatsInvertedResidual
        for i in self.td_layers:
            kernel_size, mid, out, _, act, stride = setting[i - 1]
            in_channels = setting[i - 2][2] if i > 1 else 16
            old = getattr(self, f'layer{i}')
            new = TDInvertedResidual(
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

    def _last_td_layer(self) -> int:
        if not self.td_layers:
            raise ValueError('forward_steps needs td_layers, got ()')
        return self.td_layers[-1]

    def steps_head(self, x: torch.Tensor
                   ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, ...]]]:
        """The layers before the last TD layer, run once."""
        outs = []
        for i, name in enumerate(self.layers[:self._last_td_layer()]):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return x, same_pairs(outs)

    def steps_tail(self, x: torch.Tensor,
                   t: int) -> List[Tuple[torch.Tensor, ...]]:
        """The last TD layer stopped after step t, then the rest."""
        k = self._last_td_layer()
        y = getattr(self, self.layers[k]).forward_to_step(x, t)
        outs = [y] if k in self.out_indices else []
        for i in range(k + 1, len(self.layers)):
            y = getattr(self, self.layers[i])(y)
            if i in self.out_indices:
                outs.append(y)
        return same_pairs(outs)

    def train(self, mode: bool = True) -> 'TDAMMobileNetV3':
        # MobileNetV3.train returns None; nn.Module's contract is self.
        super().train(mode)
        return self

    def td_parameter_names(self) -> List[str]:
        """Names of the parameters TDAM adds (for load reports)."""
        return [name for name, _ in self.named_parameters()
                if '.td.' in name or '_bn_' in name]
