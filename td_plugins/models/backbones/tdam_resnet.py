"""TDAM-ResNet: ResNet-18..152 with TDAM's top-down attention in its blocks.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), sections 3-4. Block layout,
defaults, parameter names (torchvision's, plus ``layerK.i.td.*`` and the
per-step BNs ``layerK.i.bn3_1``, ...) and counts follow the official code:
docs/tdam.md, "Pieces" and "Paper vs official code".
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ...registry import MODELS
from ..layers import TDBasicBlock, TDBottleneck
from ..layers.tdam_blocks import check_train_early_tops
from ..layers.tdam_steps import (
    TDAMStepsBackbone,
    check_tdam_args,
    run_to_step,
    same_pairs,
)
from .resnet_common import (
    RESNET_ARCH,
    BlockFactory,
    TorchvisionStagesMixin,
    check_stage_args,
    check_stage_indices,
)

__all__ = ['TDAMResNet', 'default_td_blocks']

# Names of the per-step norms in ``named_modules``: ``layerK.i.bnN_t``.
_STEP_NORM = re.compile(r'^layer\d\.\d+\.bn\d_\d+$')

# Official layer3 lists (docs/tdam.md); indices past the stage are dropped, as
# the official code silently does.
_LAYER3_BLOCKS = {
    101: (0, 1, 2, 8, 13, 18, 22, 23, 24, 25),
    152: (0, 1, 2, 8, 13, 18, 22, 25, 28, 31, 32, 33, 34, 35),
}


def default_td_blocks(depth: int, td_stages: Sequence[int] = (2, 3)
                      ) -> List[List[int]]:
    """The official code's TD blocks per stage for ``depth``."""
    layers = RESNET_ARCH[depth][1]
    blocks: List[List[int]] = []
    for stage, n in enumerate(layers):
        if stage not in td_stages:
            blocks.append([])
        elif stage == 2 and depth in _LAYER3_BLOCKS:
            blocks.append([i for i in _LAYER3_BLOCKS[depth] if i < n])
        else:
            blocks.append(list(range(n)))
    return blocks


def _norm_layer(norm_cfg: Optional[dict]):
    if norm_cfg is None or norm_cfg.get('type') in ('BN', 'BN2d') and \
            set(norm_cfg) <= {'type', 'requires_grad'}:
        requires_grad = (norm_cfg or {}).get('requires_grad', True)

        def bn(c: int) -> nn.Module:
            layer = nn.BatchNorm2d(c)
            layer.requires_grad_(requires_grad)
            return layer
        return bn
    from mmcv.cnn import build_norm_layer

    def build(c: int) -> nn.Module:
        return build_norm_layer(norm_cfg, c)[1]
    return build


@MODELS.register_module()
class TDAMResNet(TDAMStepsBackbone, TorchvisionStagesMixin, BaseModule):
    """ResNet with TDAM blocks (2D), torchvision parameter layout.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        td_mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        feedback_distance (int): m; 0..3 for Bottleneck depths, 0..2 for
            BasicBlock depths. Defaults to 1.
        num_steps (int): T >= 1. Defaults to 2.
        reduction (int): r of the attention MLP. Defaults to 16.
        td_stages (Sequence[int]): Stages (0..3) whose blocks get TD when
            ``td_blocks`` is None. Defaults to (2, 3).
        td_blocks (Sequence[Sequence[int]], optional): Block indices per
            stage (four lists); overrides ``td_stages``. Defaults to the
            official lists (see :func:`default_td_blocks`).
        td_order (str): See :class:`TopDownAttention`. Defaults to
            ``'channel->spatial'``.
        td_widths (str): ``'code'`` or ``'paper'`` (eq. 4). Defaults to
            ``'code'``.
        out_indices (Sequence[int]): Stages whose outputs are returned.
            Defaults to (3, ).
        frozen_stages (int): Freeze the stem and stages up to this index + 1;
            -1 freezes nothing. Defaults to -1.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN',
            requires_grad=True)``.
        norm_eval (bool): Norms in eval mode in training. Defaults to False.
        with_cp (bool): Checkpoint the TD blocks. Defaults to False.
        zero_init_residual (bool): Zero the step-0 last BN of every block
            (the official ``zero_init_last_bn``; per-step BNs keep weight 1).
            Defaults to True.
        step_norms_from_step0 (bool): After :meth:`init_weights`, copy
            every step-0 norm into its per-step copies (``bn3`` ->
            ``bn3_1``), for plain ResNet checkpoints. Defaults to False.
        pool_early_tops (bool): Compute early Bottleneck tops only as their
            global average where exact (docs/tdam.md, "Pooled early tops").
            Defaults to True.
        train_early_tops (str): With batch-statistic BNs, early Bottleneck
            tops from conv3's input moments: ``'auto'`` (where exact and
            fewer MACs), ``'moments'`` (where exact) or ``'full'`` (the
            official order); docs/tdam.md, "Pooled early tops in
            training". Defaults to ``'auto'``.
        step_norms_train (bool): Under ``norm_eval``, keep the per-step
            norms training (docs/tdam.md, "Downstream normalisation").
            Defaults to False.
        init_cfg (dict | list, optional): Init config. Defaults to None.

    Example:
        >>> import torch
        >>> model = TDAMResNet(depth=50, out_indices=(2, 3)).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 130))]
        [(1, 1024, 7, 9), (1, 2048, 4, 5)]
    """

    def __init__(self, depth: int, td_mode: str = 'joint',
                 feedback_distance: int = 1, num_steps: int = 2,
                 reduction: int = 16, td_stages: Sequence[int] = (2, 3),
                 td_blocks: Optional[Sequence[Sequence[int]]] = None,
                 td_order: str = 'channel->spatial', td_widths: str = 'code',
                 out_indices: Sequence[int] = (3, ), frozen_stages: int = -1,
                 norm_cfg: Optional[dict] = None, norm_eval: bool = False,
                 with_cp: bool = False, zero_init_residual: bool = True,
                 step_norms_from_step0: bool = False,
                 pool_early_tops: bool = True,
                 train_early_tops: str = 'auto',
                 step_norms_train: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(step_norms_train, bool):
            raise ValueError(f'step_norms_train must be True or False, got '
                             f'{step_norms_train!r}')
        if depth not in RESNET_ARCH:
            raise ValueError(f'depth must be one of {tuple(RESNET_ARCH)}, '
                             f'got {depth!r}')
        block_name, layers = RESNET_ARCH[depth]
        check_tdam_args(block_name, feedback_distance, num_steps, td_mode,
                        reduction, td_order, td_widths)
        check_train_early_tops(train_early_tops, block_name,
                               feedback_distance, num_steps)
        check_stage_indices('td_stages', td_stages)
        if td_blocks is None:
            td_blocks = default_td_blocks(depth, tuple(td_stages))
        self._check_td_blocks(td_blocks, layers)
        check_stage_args(out_indices, frozen_stages)
        from torchvision.models import resnet as tv
        plain = getattr(tv, block_name)
        td = TDBottleneck if block_name == 'Bottleneck' else TDBasicBlock
        factory = BlockFactory(
            plain, td, layers, td_blocks,
            dict(td_mode=td_mode, feedback_distance=feedback_distance,
                 num_steps=num_steps, reduction=reduction, order=td_order,
                 widths=td_widths, with_cp=with_cp,
                 pool_early_tops=pool_early_tops,
                 train_early_tops=train_early_tops))
        net = tv.ResNet(factory, list(layers),
                        norm_layer=_norm_layer(norm_cfg),
                        zero_init_residual=zero_init_residual)
        self._adopt(net, out_indices, frozen_stages, norm_eval)
        self.depth = depth
        self.num_steps = num_steps
        self.td_blocks = [sorted(set(b)) for b in td_blocks]
        self.step_norms_from_step0 = step_norms_from_step0
        self.step_norms_train = step_norms_train
        self._freeze_stages()

    def _is_attention_norm(self, name: str) -> bool:
        """Per-step norms, exempt from ``norm_eval`` if step_norms_train."""
        return self.step_norms_train and bool(_STEP_NORM.match(name))

    def init_weights(self) -> None:
        super().init_weights()
        if self.step_norms_from_step0:
            self.copy_step0_norms()

    def copy_step0_norms(self) -> int:
        """Copy ``bnK`` into every ``bnK_t``; return how many were set."""
        count = 0
        for block in self.modules():
            if not hasattr(block, 'feedback_distance'):
                continue
            for name, module in list(block.named_children()):
                base, _, step = name.partition('_')
                if step.isdigit() and hasattr(block, base):
                    module.load_state_dict(getattr(block, base).state_dict())
                    count += 1
        return count

    @staticmethod
    def _check_td_blocks(td_blocks: Sequence[Sequence[int]],
                         layers: Sequence[int]) -> None:
        ok = isinstance(td_blocks, (list, tuple)) and len(td_blocks) == 4
        if ok:
            for ids, n in zip(td_blocks, layers):
                if not isinstance(ids, (list, tuple)) or not all(
                        isinstance(i, int) and not isinstance(i, bool)
                        and 0 <= i < n for i in ids):
                    ok = False
        if not ok:
            ranges = ', '.join(f'[0, {n - 1}]' for n in layers)
            raise ValueError(
                f'td_blocks must be four lists of block indices, one per '
                f'stage, within {ranges}; got {td_blocks!r}')

    def steps_head(self, x: torch.Tensor
                   ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, ...]]]:
        """Stem and layer1-3, once (official ``output_pred_over_t``)."""
        x = self._stem(x)
        outs = []
        for i, stage in enumerate(self.stages[:3]):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return x, same_pairs(outs)

    def steps_tail(self, x: torch.Tensor,
                   t: int) -> List[Tuple[torch.Tensor, ...]]:
        """layer4 with its TD blocks stopped after step t."""
        y = run_to_step(self.layer4, x, t)
        return same_pairs([y] if 3 in self.out_indices else [])

    def td_parameter_names(self) -> Dict[str, List[str]]:
        """Names of the parameters TDAM adds, per kind (for load reports)."""
        names: Dict[str, List[str]] = {'attention': [], 'step_norms': []}
        for name, _ in self.named_parameters():
            leaf_module = name.rsplit('.', 2)[-2]
            if '.td.' in name:
                names['attention'].append(name)
            elif '_' in leaf_module and leaf_module.startswith('bn'):
                names['step_norms'].append(name)
        return names
