"""TDAF-ResNet: a ResNet run as R2DNS flows with ANAR attention (Pang et al.,
"TDAF", AAAI 2021, sections 3-4; docs/tdaf.md, "Pieces").
"""
from functools import partial
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule

from ...registry import MODELS
from ..layers import (
    R2DNS,
    FlowBasicBlock,
    FlowBottleneck,
    MultiFlowBatchNorm2d,
    check_r2dns_args,
)
from .resnet_common import (
    RESNET_ARCH,
    TorchvisionStagesMixin,
    check_stage_args,
)

_FLOW_BLOCKS = {'BasicBlock': FlowBasicBlock, 'Bottleneck': FlowBottleneck}


def loads_checkpoint(init_cfg: Optional[Union[dict, List[dict]]]) -> bool:
    """Whether an mmengine ``init_cfg`` loads a checkpoint."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, dict) and c.get('type') == 'Pretrained'
               for c in cfgs)

__all__ = ['TDAFResNet']


@MODELS.register_module()
class TDAFResNet(TorchvisionStagesMixin, BaseModule):
    """ResNet-18/34/50/101/152 with TDAF's recursive flows (2D).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        num_flows (int): Recursive flows N, 1..4. Defaults to 3.
        anar (int): ANAR depth, 3, 5 or 7. Defaults to 3.
        eta (float): Half-scale residual weight. Defaults to 0.5.
        dsf (str): ``'avg_pool'`` or ``'linear'``. Defaults to ``'avg_pool'``.
        out_indices (Sequence[int]): Stages (0..3) returned. Defaults to all.
        frozen_stages (int): Freeze the stem and layer1..layer{frozen_stages};
            -1 freezes nothing. Defaults to -1.
        norm_eval (bool): Stem and stage BNs in eval mode. Defaults to False.
        anar_norm_eval (bool): With ``norm_eval``, the ANARs' norms too.
        with_cp (bool): Checkpoint every block. Defaults to False.
        zero_init_anar (bool): Constant 0.5 masks at init. Defaults to True.
        flow_parallel (str): A stage's flows run ``'serial'``, in
            ``'threads'`` (CPU) or on CUDA ``'streams'``. Defaults to
            ``'serial'``.
        groups, width_per_group (int): ResNeXt's 3x3 groups and their width
            at the first stage. Default to 1 and 64.
        init_cfg (dict | list, optional): mmengine init config.

    Example:
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
                 width_per_group: int = 64, flow_parallel: str = 'serial',
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
        check_r2dns_args(4, num_flows, anar, eta, dsf, flow_parallel)
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
                           zero_init_anar=zero_init_anar,
                           flow_parallel=flow_parallel)
        self._freeze_stages()

    def _is_attention_norm(self, name: str) -> bool:
        return name.startswith('r2dns.') and not self.anar_norm_eval

    def init_weights(self) -> None:
        """mmengine's init, then the ANARs' own unless a checkpoint loaded."""
        super().init_weights()
        if not loads_checkpoint(self.init_cfg):
            for anar_module in self.r2dns.anars:
                anar_module.reset_parameters(self.zero_init_anar)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        stem = (self.conv1, self.bn1, self.relu, self.maxpool)
        outs = self.r2dns(x, self.stages, stem=stem)
        return tuple(outs[i] for i in self.out_indices)
