"""What the torchvision-layout ResNet backbones of td_plugins share: the
depth table, stage freezing and ``norm_eval`` (as mmdet/mmpretrain's ResNet
do them)."""
from typing import List, Sequence, Tuple, Type

import torch
import torch.nn as nn

__all__ = ['RESNET_ARCH', 'BlockFactory', 'TorchvisionStagesMixin',
           'check_stage_args', 'check_stage_indices']

# depth -> (torchvision block name, blocks per stage)
RESNET_ARCH = {
    18: ('BasicBlock', (2, 2, 2, 2)),
    34: ('BasicBlock', (3, 4, 6, 3)),
    50: ('Bottleneck', (3, 4, 6, 3)),
    101: ('Bottleneck', (3, 4, 23, 3)),
    152: ('Bottleneck', (3, 8, 36, 3)),
}


def check_stage_indices(name: str, indices: Sequence[int],
                        allow_empty: bool = True) -> None:
    """Refuse ``indices`` (``out_indices``, ``td_stages``, ``aw_stages``...)
    that are not stage indices of a 4-stage ResNet."""
    if (not allow_empty and not indices) or not all(
            isinstance(i, int) and 0 <= i < 4 for i in indices):
        raise ValueError(f'{name} must be stage indices in [0, 3], '
                         f'got {indices!r}')


def check_stage_args(out_indices: Sequence[int], frozen_stages: int) -> None:
    """Refuse ``out_indices`` / ``frozen_stages`` a 4-stage ResNet lacks."""
    check_stage_indices('out_indices', out_indices, allow_empty=False)
    if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= 4:
        raise ValueError(f'frozen_stages must be an integer in [-1, 4], '
                         f'got {frozen_stages!r}')


class TorchvisionStagesMixin:
    """``stages``, ``forward``, ``frozen_stages`` and ``norm_eval`` for a
    module holding torchvision's ``conv1``, ``bn1``, ``relu``, ``maxpool``
    and ``layer1``..``layer4``; set ``out_indices``, ``frozen_stages`` and
    ``norm_eval`` before calling :meth:`_freeze_stages`. ``_norm_types``
    are the layers ``norm_eval`` keeps in eval mode."""

    _norm_types: Tuple[Type[nn.Module], ...] = (
        nn.modules.batchnorm._BatchNorm, )

    def _adopt(self, net: nn.Module, out_indices: Sequence[int],
               frozen_stages: int, norm_eval: bool) -> None:
        """Take torchvision ``net``'s stem and stages (their names stay
        torchvision's) and the stage settings; then
        :meth:`_freeze_stages` may run."""
        self.conv1, self.bn1, self.relu, self.maxpool = \
            net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = \
            net.layer1, net.layer2, net.layer3, net.layer4
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

    @property
    def stages(self) -> List[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Stem, then the stages in turn; the ``out_indices`` outputs."""
        x = self._stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv1, self.bn1] + self.stages[:self.frozen_stages]
        for module in frozen:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def _is_attention_norm(self, name: str) -> bool:
        """Whether the norm ``name`` (as in ``named_modules``) belongs to the
        attention the method adds, which no checkpoint pretrains:
        ``norm_eval`` leaves those training. Backbones override this."""
        return False

    def train(self, mode: bool = True) -> nn.Module:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for name, m in self.named_modules():
                if isinstance(m, self._norm_types) and \
                        not self._is_attention_norm(name):
                    m.eval()
        return self


class BlockFactory:
    """What torchvision's ``ResNet._make_layer`` calls for each block: the
    ``td`` class (a TDAM or AW block) at the positions ``td_blocks`` lists
    per stage, with ``td_kwargs``, and the ``plain`` class elsewhere."""

    def __init__(self, plain: type, td: type, layers: Sequence[int],
                 td_blocks: Sequence[Sequence[int]], td_kwargs: dict) -> None:
        self.plain, self.td = plain, td
        self.expansion = plain.expansion
        self.where = [(s, i) for s, n in enumerate(layers) for i in range(n)]
        self.td_set = {(s, i) for s, ids in enumerate(td_blocks)
                       for i in ids}
        self.td_kwargs = td_kwargs
        self.count = 0

    def __call__(self, *args, **kwargs) -> nn.Module:
        position = self.where[self.count]
        self.count += 1
        if position in self.td_set:
            return self.td(*args, **kwargs, **self.td_kwargs)
        return self.plain(*args, **kwargs)
