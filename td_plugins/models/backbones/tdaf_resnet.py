"""TDAF-ResNet: a ResNet run as R2DNS recursive flows with ANAR attention.

Pang, Li, Li, Li, Cao and Lu, "TDAF: Top-Down Attention Framework for Vision
Tasks" (AAAI 2021): the ResNet's L = 4 stages (layer1..layer4) are the R2DNS
stages (section 4, "insert ANARs after each stage"), every BN is a multi-flow
BN (eq. 4), ANARs gate stages 1..3 with the half-scale residual (eq. 5).
See :mod:`td_plugins.models.layers.r2dns` for the choices where the paper is
silent.

Parameter names keep torchvision's ResNet layout (``conv1``, ``bn1``,
``layer1.0.conv1.weight`` ...; no ``fc``), and TDAF's own parameters live
under ``r2dns.``, so ``torchvision://resnet50`` and mmdet/mmpretrain ResNet
checkpoints load and the load report lists exactly ``r2dns.*`` as missing.
With ``zero_init_anar=True`` (default) the freshly built network computes
what the plain ResNet with the same weights computes, also after
``init_weights()`` with a non-pretrained ``init_cfg`` (the ANARs are
re-initialised after it). The blocks are torchvision's, taking the flow
(:mod:`td_plugins.models.layers.flow_blocks`); ``with_cp`` checkpoints each
block. ``norm_eval`` freezes the pretrained norms (stem and stages) and, as
no checkpoint pretrains them, leaves the ANARs' norms training unless
``anar_norm_eval=True`` (docs/tdaf.md, "Normalisation").
"""
from functools import partial
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule

from ...registry import MODELS
from .resnet_common import (RESNET_ARCH, TorchvisionStagesMixin,
                            check_stage_args)
from ..layers import (FlowBasicBlock, FlowBottleneck, MultiFlowBatchNorm2d,
                      R2DNS, check_r2dns_args)

_FLOW_BLOCKS = {'BasicBlock': FlowBasicBlock, 'Bottleneck': FlowBottleneck}


def loads_checkpoint(init_cfg: Optional[Union[dict, List[dict]]]) -> bool:
    """Whether an mmengine ``init_cfg`` loads a checkpoint (which may hold
    trained ANARs, so they must not be re-initialised after it)."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, dict) and c.get('type') == 'Pretrained'
               for c in cfgs)

__all__ = ['TDAFResNet']


@MODELS.register_module()
class TDAFResNet(TorchvisionStagesMixin, BaseModule):
    """ResNet-18/34/50/101/152 with TDAF's recursive flows (2D).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        num_flows (int): Recursive flows N, 1..4 (N = 1 is the plain ResNet).
            Defaults to 3.
        anar (int): ANAR depth, 3, 5 or 7. Defaults to 3.
        eta (float): Half-scale residual weight. Defaults to 0.5.
        dsf (str): ``'avg_pool'`` or ``'linear'`` downsampling between
            flows. Defaults to ``'avg_pool'``.
        out_indices (Sequence[int]): Stages (0..3) whose last-flow outputs
            are returned. Defaults to (0, 1, 2, 3).
        frozen_stages (int): Freeze the stem (0) and stages up to this index
            + 1; -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Keep the pretrained (multi-flow) BN layers of the
            stem and stages in eval mode while training. Defaults to False.
        anar_norm_eval (bool): Under ``norm_eval``, freeze the ANARs' norms
            too (no checkpoint pretrains them). Defaults to False.
        with_cp (bool): Checkpoint every block (its flow captured; running
            statistics updated once). Defaults to False.
        zero_init_anar (bool): Constant 0.5 masks at init, i.e. the plain
            ResNet's function (the start for pretrained weights);
            ``init_weights()`` keeps it after a non-pretrained ``init_cfg``.
            False: the ANARs' last conv Kaiming ``fan_in`` too, for training
            from scratch. Defaults to True.
        groups (int): Groups of the 3x3 convolutions of a Bottleneck; with
            ``width_per_group`` this gives ResNeXt (e.g. 32 and 4 for
            ResNeXt-50 32x4d, torchvision's layout). BasicBlock depths take
            only 1. Defaults to 1.
        width_per_group (int): Channels per group of the Bottleneck's 3x3
            convolution at the first stage (64 for ResNet). Defaults to 64.
        init_cfg (dict | list, optional): mmengine init config, e.g.
            ``dict(type='Pretrained', checkpoint='torchvision://resnet50')``.
            Defaults to None.

    Example:
        >>> import torch
        >>> from td_plugins.models.backbones import TDAFResNet
        >>> model = TDAFResNet(depth=18, num_flows=3).eval()
        >>> outs = model(torch.rand(1, 3, 223, 257))
        >>> [tuple(o.shape) for o in outs]
        [(1, 64, 56, 65), (1, 128, 28, 33), (1, 256, 14, 17), (1, 512, 7, 9)]
    """

    def __init__(self, depth: int, num_flows: int = 3, anar: int = 3,
                 eta: float = 0.5, dsf: str = 'avg_pool',
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1, norm_eval: bool = False,
                 anar_norm_eval: bool = False, with_cp: bool = False,
                 zero_init_anar: bool = True, groups: int = 1,
                 width_per_group: int = 64,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in RESNET_ARCH:
            raise ValueError(f'depth must be one of {tuple(RESNET_ARCH)}, '
                             f'got {depth!r}')
        check_stage_args(out_indices, frozen_stages)
        from torchvision.models import resnet as tv
        block_name, layers = RESNET_ARCH[depth]
        for name, value in (('groups', groups),
                            ('width_per_group', width_per_group)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'{name} must be a positive integer, got '
                                 f'{value!r}')
        if block_name == 'BasicBlock' and (groups, width_per_group) != (1, 64):
            raise ValueError(
                f'groups and width_per_group must be 1 and 64 for depth '
                f'{depth} (BasicBlock); ResNeXt needs a Bottleneck depth '
                f'(50, 101, 152), got groups={groups!r}, '
                f'width_per_group={width_per_group!r}')
        for name, value in (('norm_eval', norm_eval),
                            ('anar_norm_eval', anar_norm_eval),
                            ('with_cp', with_cp),
                            ('zero_init_anar', zero_init_anar)):
            if not isinstance(value, bool):
                raise ValueError(f'{name} must be True or False, got '
                                 f'{value!r}')
        block = _FLOW_BLOCKS[block_name]
        check_r2dns_args(4, num_flows, anar, eta, dsf)
        norm = partial(MultiFlowBatchNorm2d, num_flows=num_flows)
        net = tv.ResNet(block, list(layers), norm_layer=norm, groups=groups,
                        width_per_group=width_per_group)
        self._adopt(net, out_indices, frozen_stages, norm_eval)
        self.depth = depth
        self.anar_norm_eval = anar_norm_eval
        self.zero_init_anar = zero_init_anar
        self.with_cp = with_cp
        for stage in self.stages:
            for blk in stage:
                blk.with_cp = with_cp
        expansion = block.expansion
        self.stage_channels = [64 * expansion * 2**i for i in range(4)]
        self.r2dns = R2DNS(self.stage_channels, num_flows=num_flows,
                           anar=anar, eta=eta, dims=2, dsf=dsf,
                           zero_init_anar=zero_init_anar)
        self._freeze_stages()

    def _is_attention_norm(self, name: str) -> bool:
        return name.startswith('r2dns.') and not self.anar_norm_eval

    def init_weights(self) -> None:
        """mmengine's init, then the ANARs' own init again unless
        ``init_cfg`` loaded a checkpoint (a non-pretrained ``init_cfg`` such
        as Kaiming on ``Conv2d`` also reaches the ANARs' last conv)."""
        super().init_weights()
        if not loads_checkpoint(self.init_cfg):
            for anar_module in self.r2dns.anars:
                anar_module.reset_parameters(self.zero_init_anar)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        stem = (self.conv1, self.bn1, self.relu, self.maxpool)
        outs = self.r2dns(x, self.stages, stem=stem)
        return tuple(outs[i] for i in self.out_indices)
