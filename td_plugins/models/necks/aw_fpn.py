"""AW-FPN: mmdet's FPN with AW-convolutions as lateral and output convs.

Zhu, Hofstee, Lee and Al-Ars, "An Attention Module for Convolutional Neural
Networks" (ICANN 2021), section 4.3. Key names, the GN default of the
attention norm and parameter counts: docs/aw.md.
"""
from typing import Any, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.necks import FPN

from ...registry import MODELS
from ..layers import CBAM, AWConv2d, SqueezeExcitation
from ..layers.aw_conv import AW_IMPLS, AttnNormCfg, check_attn_norm_cfg
from .aw_fpn_args import AW_FPN_ATTENTIONS

__all__ = ['AWFPN', 'AW_FPN_ATTENTIONS']


def _pre_attention(kind: Optional[str], channels: int,
                   reduction: int) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind == 'se':
        return SqueezeExcitation(channels, reduction)
    return CBAM(channels, reduction)


def _check_args(attention: Any, attention_reduction: Any, aw_impl: Any,
                attn_norm_cfg: Any, in_channels: Any,
                out_channels: Any) -> None:
    """Refuse, before mmdet's FPN is built, what AWConv2d does not."""
    check_attn_norm_cfg(attn_norm_cfg)
    if attention not in AW_FPN_ATTENTIONS:
        raise ValueError(f'attention must be one of {AW_FPN_ATTENTIONS}, '
                         f'got {attention!r}')
    if aw_impl not in AW_IMPLS:
        raise ValueError(f'aw_impl must be one of {AW_IMPLS}, got '
                         f'{aw_impl!r}')
    if isinstance(attention_reduction, bool) or not isinstance(
            attention_reduction, int) or attention_reduction < 1:
        raise ValueError(f'attention_reduction must be a positive integer, '
                         f'got {attention_reduction!r}')
    if attention is not None:
        narrowest = min(min(in_channels), out_channels)
        if attention_reduction > narrowest:
            raise ValueError(
                f'attention_reduction ({attention_reduction}) must not '
                f'exceed the narrowest input of an SE/CBAM module '
                f'({narrowest} channels)')


def _to_aw(conv: nn.Conv2d, reduction: int, impl: str,
           attn_norm_cfg: AttnNormCfg) -> AWConv2d:
    return AWConv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                    stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, bias=conv.bias is not None,
                    reduction=reduction, impl=impl,
                    attn_norm_cfg=attn_norm_cfg)


@MODELS.register_module()
class AWFPN(FPN):
    """FPN whose lateral and output convs are AW-convolutions.

    Args:
        attention (str, optional): None, ``'se'`` or ``'cbam'`` (full
            CBAM), before every AW-convolution. Defaults to None.
        reduction (int): r of the AW attention branch. Defaults to 16.
        attention_reduction (int): Reduction of the SE/CBAM MLPs.
            Defaults to 16.
        aw_extra_convs (bool): Also the extra convs of ``add_extra_convs``.
            Defaults to False.
        aw_impl (str): ``AWConv2d`` form, one of ``'auto'``, ``'taps'``,
            ``'fold'``, ``'reference'``. Defaults to 'auto'.
        attn_norm_cfg (str | dict, optional): ``AWConv2d``'s
            ``attn_norm_cfg``. Defaults to 'GN'.
        **kwargs: mmdet ``FPN`` arguments; ``conv_cfg`` must stay None.

    Example:
        >>> neck = AWFPN(in_channels=[256, 512, 1024, 2048],
        ...              out_channels=256, num_outs=5, attention='se')
        >>> feats = [torch.rand(1, c, 64 // 2 ** i, 64 // 2 ** i)
        ...          for i, c in enumerate([256, 512, 1024, 2048])]
        >>> [tuple(o.shape[2:]) for o in neck(feats)]
        [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    """

    def __init__(self, attention: Optional[str] = None,
                 reduction: int = 16, attention_reduction: int = 16,
                 aw_extra_convs: bool = False, aw_impl: str = 'auto',
                 attn_norm_cfg: AttnNormCfg = 'GN',
                 **kwargs: Any) -> None:
        if kwargs.get('conv_cfg') is not None:
            raise ValueError(
                f'conv_cfg must be None for td_plugins.AWFPN (it '
                f'chooses the AW-convolutions itself), got '
                f'{kwargs["conv_cfg"]!r}')
        _check_args(attention, attention_reduction, aw_impl,
                    attn_norm_cfg, kwargs.get('in_channels', []),
                    kwargs.get('out_channels'))
        super().__init__(**kwargs)
        self.attention = attention
        self.aw_extra_convs = aw_extra_convs
        levels = len(self.lateral_convs)
        self.lateral_attentions = nn.ModuleList()
        self.fpn_attentions = nn.ModuleList()
        for i, module in enumerate(self.lateral_convs):
            module.conv = _to_aw(module.conv, reduction, aw_impl,
                                 attn_norm_cfg)
            self.lateral_attentions.append(_pre_attention(
                attention, module.conv.in_channels, attention_reduction))
        for i, module in enumerate(self.fpn_convs):
            if i >= levels and not aw_extra_convs:
                self.fpn_attentions.append(nn.Identity())
                continue
            module.conv = _to_aw(module.conv, reduction, aw_impl,
                                 attn_norm_cfg)
            self.fpn_attentions.append(_pre_attention(
                attention, module.conv.in_channels, attention_reduction))

    def _output(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.fpn_convs[i](self.fpn_attentions[i](x))

    def forward(self, inputs: Tuple[torch.Tensor, ...]
                ) -> Tuple[torch.Tensor, ...]:
        """FPN's forward with each AW conv preceded by its SE/CBAM."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f'AWFPN expects {len(self.in_channels)} feature maps '
                f'(in_channels={self.in_channels}), got {len(inputs)}')
        laterals: List[torch.Tensor] = [
            conv(attn(inputs[i + self.start_level]))
            for i, (conv, attn) in enumerate(
                zip(self.lateral_convs, self.lateral_attentions))
        ]
        for i in range(len(laterals) - 1, 0, -1):
            if 'scale_factor' in self.upsample_cfg:
                up = F.interpolate(laterals[i], **self.upsample_cfg)
            else:
                up = F.interpolate(laterals[i],
                                   size=laterals[i - 1].shape[2:],
                                   **self.upsample_cfg)
            laterals[i - 1] = laterals[i - 1] + up
        levels = len(laterals)
        outs = [self._output(i, laterals[i]) for i in range(levels)]
        if self.num_outs == levels:
            return tuple(outs)
        if not self.add_extra_convs:
            while len(outs) < self.num_outs:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            return tuple(outs)
        source = {
            'on_input': lambda: inputs[self.backbone_end_level - 1],
            'on_lateral': lambda: laterals[-1],
            'on_output': lambda: outs[-1],
        }[self.add_extra_convs]()
        outs.append(self._output(levels, source))
        for i in range(levels + 1, self.num_outs):
            prev = F.relu(outs[-1]) if self.relu_before_extra_convs \
                else outs[-1]
            outs.append(self._output(i, prev))
        return tuple(outs)
