"""TDAF-ResNet3d: mmaction2's ResNet3d run as R2DNS flows with 3D ANARs.

Pang, Li, Li, Li, Cao and Lu, "TDAF: Top-Down Attention Framework for Vision
Tasks" (AAAI 2021), section 4 (Kinetics-400): the 3D-ResNet-50 of Hara et
al. with 3D ANAR-5 and 3 flows; the DSF halves T, H and W; every BN is a 3D
multi-flow BN. mmaction2's arguments and key layout stay: a 2D ResNet
inflates into it (``pretrained2d=True``), a plain ``ResNet3d`` checkpoint
loads with only ``r2dns.*`` missing, and with ``zero_init_anar=True`` the
untrained network computes the plain ``ResNet3d`` (docs/tdaf.md).
"""
from functools import partial
from typing import Any, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet3d import (
    BasicBlock3d,
    Bottleneck3d,
    ResNet3d,
)
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import MODELS
from ..layers import R2DNS, FlowFn, check_r2dns_args, run_flow
from ..layers.checkpoint import checkpoint_keep_stats

__all__ = ['FlowBasicBlock3d', 'FlowBottleneck3d', 'TDAFResNet3d']


def conv_module(module: nn.Module, x: torch.Tensor,
                flow: int) -> torch.Tensor:
    """``ConvModule.forward`` (conv, norm, act in its ``order``) with
    the flow passed to the norm; other modules go to run_flow."""
    if not isinstance(module, ConvModule):
        return run_flow(module, x, flow)
    for layer in module.order:
        if layer == 'conv':
            if module.with_explicit_padding:
                x = module.padding_layer(x)
            x = module.conv(x)
        elif layer == 'norm' and module.with_norm:
            x = run_flow(module.norm, x, flow)
        elif layer == 'act' and module.with_activation:
            x = module.activate(x)
    return x


class _FlowBlock3d:
    """``forward(x, flow)`` of mmaction's 3D blocks."""
    takes_flow = True

    def _inner(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        out = x
        for name in self._convs:
            out = conv_module(getattr(self, name), out, flow)
        identity = x if self.downsample is None else \
            conv_module(self.downsample, x, flow)
        out += identity  # a fresh BN (or conv) output: in place
        return out

    def forward(self, x: torch.Tensor, flow: int) -> torch.Tensor:
        if self.with_cp and x.requires_grad and torch.is_grad_enabled():
            out = checkpoint_keep_stats(self._inner, x, flow, owner=self)
        else:
            out = self._inner(x, flow)
        out = self.relu(out)
        if self.non_local:
            out = self.non_local_block(out)
        return out


class FlowBasicBlock3d(_FlowBlock3d, BasicBlock3d):
    """mmaction's ``BasicBlock3d`` called as ``block(x, flow)``."""
    _convs = ('conv1', 'conv2')


class FlowBottleneck3d(_FlowBlock3d, Bottleneck3d):
    """mmaction's ``Bottleneck3d`` called as ``block(x, flow)``."""
    _convs = ('conv1', 'conv2', 'conv3')


FLOW_BLOCKS = {BasicBlock3d: FlowBasicBlock3d,
               Bottleneck3d: FlowBottleneck3d}


@MODELS.register_module()
class TDAFResNet3d(ResNet3d):
    """ResNet3d with TDAF's recursive flows (see the module docstring).

    Args:
        num_flows (int): Recursive flows N, 1..number of stages.
            Defaults to 3.
        anar (int): 3D ANAR depth, 3, 5 or 7. Defaults to 5.
        eta (float): Half-scale residual weight. Defaults to 0.5.
        dsf (str): ``'avg_pool'`` or ``'linear'``. Defaults to
            ``'avg_pool'``.
        zero_init_anar (bool): Start as the plain ResNet3d (for
            pretrained weights); False: Kaiming ``fan_in`` ANAR last
            convs (from scratch). Defaults to True.
        anar_norm_eval (bool): Under ``norm_eval``, freeze the ANARs'
            norms too. Defaults to False.
        flow_parallel (str): A stage's flows run ``'serial'``, in
            ``'threads'`` (CPU) or on CUDA ``'streams'``. Defaults to
            ``'serial'``.
        **kwargs: ``mmaction.models.ResNet3d`` arguments; ``norm_cfg``
            must be a BN3d config (it becomes multi-flow BN).

    Example:
        >>> import torch
        >>> from td_plugins.models.backbones import TDAFResNet3d
        >>> model = TDAFResNet3d(depth=18, pretrained=None)
        >>> model.init_weights()
        >>> model(torch.rand(2, 3, 8, 64, 64)).shape
        torch.Size([2, 512, 4, 2, 2])
    """

    arch_settings = {depth: (FLOW_BLOCKS[block], blocks) for depth,
                     (block, blocks) in ResNet3d.arch_settings.items()}

    def __init__(self, num_flows: int = 3, anar: int = 5,
                 eta: float = 0.5, dsf: str = 'avg_pool',
                 zero_init_anar: bool = True,
                 anar_norm_eval: bool = False,
                 flow_parallel: str = 'serial', **kwargs: Any) -> None:
        if not isinstance(anar_norm_eval, bool):
            raise ValueError(f'anar_norm_eval must be True or False, '
                             f'got {anar_norm_eval!r}')
        norm_cfg = dict(kwargs.pop('norm_cfg', None) or
                        dict(type='BN3d', requires_grad=True))
        if norm_cfg.get('type') not in ('BN3d', 'BN', 'td_plugins.MFBN3d'):
            raise ValueError(
                f'norm_cfg.type must be BN3d (it becomes multi-flow BN), '
                f'got {norm_cfg.get("type")!r}')
        check_r2dns_args(kwargs.get('num_stages', 4), num_flows, anar,
                         eta, dsf, flow_parallel)
        norm_cfg.update(type='td_plugins.MFBN3d', num_flows=num_flows)
        super().__init__(norm_cfg=norm_cfg, **kwargs)
        expansion = self.block.expansion
        channels = [self.base_channels * expansion * 2**i
                    for i in range(len(self.res_layers))]
        self.zero_init_anar = zero_init_anar
        self.anar_norm_eval = anar_norm_eval
        self.r2dns = R2DNS(channels, num_flows=num_flows, anar=anar,
                           eta=eta, dims=3, dsf=dsf,
                           zero_init_anar=zero_init_anar,
                           flow_parallel=flow_parallel)

    def init_weights(self, pretrained: Optional[str] = None) -> None:
        super().init_weights(pretrained)
        # ResNet3d re-initialises every Conv3d, the ANARs' too, unless
        # it loaded a 3D checkpoint (which may hold trained ANARs).
        if isinstance(self.pretrained, str) and not self.pretrained2d:
            return
        for anar_module in self.r2dns.anars:
            anar_module.reset_parameters(self.zero_init_anar)

    def forward(self, x: torch.Tensor
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        stem = [FlowFn(partial(conv_module, self.conv1))] + \
            ([self.maxpool] if self.with_pool1 else [])
        stages = [getattr(self, name) for name in self.res_layers]
        if self.with_pool2:
            stages[0] = (stages[0], self.pool2)
        outs = self.r2dns(x, stages, stem=stem)
        outs = [outs[i] for i in self.out_indices]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def train(self, mode: bool = True) -> nn.Module:
        super().train(mode)  # norm_eval: every _BatchNorm to eval
        if mode and self.norm_eval and not self.anar_norm_eval:
            for m in self.r2dns.modules():
                if isinstance(m, _BatchNorm):
                    m.train()
        return self
