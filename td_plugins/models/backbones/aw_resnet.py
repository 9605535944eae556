"""AW-ResNet: ResNet-50/101/152 with AW-convolutions in the bottlenecks.

Zhu, Hofstee, Lee and Al-Ars, "An Attention Module for Convolutional Neural
Networks" (ICANN 2021), section 4 and Fig. 2a. Key layout, stems and
``norm_eval``: docs/aw.md.
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torchvision.models import resnet as tv

from ...registry import MODELS
from ..layers import CBAM, AWConv2d, SqueezeExcitation
from ..layers.aw_conv import AttnNormCfg, check_attn_norm_cfg
from .resnet_common import (
    RESNET_ARCH,
    BlockFactory,
    TorchvisionStagesMixin,
    check_stage_args,
    check_stage_indices,
)

__all__ = ['AWBottleneck', 'AWResNet', 'AW_ATTENTIONS']

AW_ATTENTIONS = (None, 'se', 'cbam-maxpool', 'cbam-spatial')
_STEMS = ('imagenet', 'cifar')


def _attention_module(kind: Optional[str], channels: int,
                      reduction: int) -> Optional[nn.Module]:
    if kind is None:
        return None
    if kind == 'se':
        return SqueezeExcitation(channels, reduction)
    if kind == 'cbam-maxpool':
        return CBAM(channels, reduction, pools=('avg', 'max'), spatial=False)
    return CBAM(channels, reduction, pools=('avg', ), spatial=True)


class AWBottleneck(tv.Bottleneck):
    """torchvision's Bottleneck: AWConv2d 3x3, optional SE/CBAM."""

    def __init__(self, *args, attention: Optional[str] = None,
                 attention_reduction: int = 16, aw_reduction: int = 16,
                 aw_impl: str = 'auto',
                 attn_norm_cfg: AttnNormCfg = 'BN', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        old = self.conv2
        self.conv2 = AWConv2d(
            old.in_channels, old.out_channels, old.kernel_size,
            stride=old.stride, padding=old.padding,
            dilation=old.dilation, bias=False, reduction=aw_reduction,
            impl=aw_impl, attn_norm_cfg=attn_norm_cfg)
        module = _attention_module(attention, self.conv3.out_channels,
                                   attention_reduction)
        self.attention_name = None
        if module is not None:
            self.attention_name = 'se' if attention == 'se' else 'cbam'
            self.add_module(self.attention_name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.attention_name is not None:
            out = getattr(self, self.attention_name)(out)
        out += identity
        return self.relu(out)


@MODELS.register_module()
class AWResNet(TorchvisionStagesMixin, BaseModule):
    """ResNet-50/101/152 with AW-convolutions (optionally AW-SE/AW-CBAM).

    Args:
        depth (int): 50, 101 or 152.
        attention (str, optional): None, ``'se'``, ``'cbam-maxpool'`` or
            ``'cbam-spatial'``. Defaults to None.
        aw_stages (Sequence[int]): AW stages (0..3). Defaults to (0, 1, 2, 3).
        aw_reduction (int): r of the AW attention branch. Defaults to 16.
        attention_reduction (int): r of SE/CBAM. Defaults to 16.
        stem (str): ``'imagenet'`` (7x7/2 conv + max-pool) or ``'cifar'``
            (3x3/1 conv, no max-pool). Defaults to ``'imagenet'``.
        aw_impl (str): ``AWConv2d``'s ``impl``. Defaults to ``'auto'``.
        attn_norm_cfg (str | dict, optional): ``AWConv2d``'s
            ``attn_norm_cfg``. Defaults to 'BN' (the paper's).
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (3, ).
        frozen_stages (int): Freeze the stem and stages up to this index + 1;
            -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep the ResNet's own BNs in eval mode when
            training. Defaults to False.
        zero_init_residual (bool): Zero the last BN of every bottleneck.
            Defaults to True.
        init_cfg (dict | list, optional): Init config. Defaults to None.

    Example:
        >>> model = AWResNet(depth=50, attention='se').eval()
        >>> model(torch.rand(1, 3, 64, 48))[-1].shape
        torch.Size([1, 2048, 2, 2])
    """

    def __init__(self, depth: int, attention: Optional[str] = None,
                 aw_stages: Sequence[int] = (0, 1, 2, 3),
                 aw_reduction: int = 16, attention_reduction: int = 16,
                 stem: str = 'imagenet', aw_impl: str = 'auto',
                 attn_norm_cfg: AttnNormCfg = 'BN',
                 out_indices: Sequence[int] = (3, ), frozen_stages: int = -1,
                 norm_eval: bool = False, zero_init_residual: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        bottleneck_depths = tuple(d for d, (b, _) in RESNET_ARCH.items()
                                  if b == 'Bottleneck')
        if depth not in bottleneck_depths:
            raise ValueError(f'depth must be one of {bottleneck_depths} (AW '
                             f'replaces bottleneck 3x3 convs), got {depth!r}')
        if attention not in AW_ATTENTIONS:
            raise ValueError(f'attention must be one of {AW_ATTENTIONS}, '
                             f'got {attention!r}')
        if stem not in _STEMS:
            raise ValueError(f'stem must be one of {_STEMS}, got {stem!r}')
        check_stage_indices('aw_stages', aw_stages)
        check_stage_args(out_indices, frozen_stages)
        check_attn_norm_cfg(attn_norm_cfg)   # refused even without AW convs
        layers = RESNET_ARCH[depth][1]
        factory = BlockFactory(
            tv.Bottleneck, AWBottleneck, layers,
            [list(range(n)) if i in aw_stages else []
             for i, n in enumerate(layers)],
            dict(attention=attention, attention_reduction=attention_reduction,
                 aw_reduction=aw_reduction, aw_impl=aw_impl,
                 attn_norm_cfg=attn_norm_cfg))
        net = tv.ResNet(factory, list(layers),
                        zero_init_residual=zero_init_residual)
        if stem == 'cifar':
            net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode='fan_out',
                                    nonlinearity='relu')
            net.maxpool = nn.Identity()
        self._adopt(net, out_indices, frozen_stages, norm_eval)
        self.depth, self.attention, self.stem = depth, attention, stem
        self._freeze_stages()

    def _is_attention_norm(self, name: str) -> bool:
        """The norms ``norm_eval`` leaves training (docs/aw.md)."""
        leaf = name.rsplit('.', 1)[-1]
        return leaf in ('attn_bn1', 'attn_bn2') or '.cbam.' in f'.{name}.'
