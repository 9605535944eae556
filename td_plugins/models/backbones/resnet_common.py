"""What the torchvision-layout ResNet backbones of td_plugins share: the
depth table, stage freezing and ``norm_eval`` (as mmdet/mmpretrain's ResNet
do them)."""
from typing import List, Tuple, Type

import torch.nn as nn

__all__ = ['RESNET_ARCH', 'TorchvisionStagesMixin']

# depth -> (torchvision block name, blocks per stage)
RESNET_ARCH = {
    18: ('BasicBlock', (2, 2, 2, 2)),
    34: ('BasicBlock', (3, 4, 6, 3)),
    50: ('Bottleneck', (3, 4, 6, 3)),
    101: ('Bottleneck', (3, 4, 23, 3)),
    152: ('Bottleneck', (3, 8, 36, 3)),
}


class TorchvisionStagesMixin:
    """``stages``, ``frozen_stages`` and ``norm_eval`` for a module holding
    torchvision's ``conv1``, ``bn1``, ``layer1``..``layer4``; set
    ``frozen_stages`` and ``norm_eval`` before calling
    :meth:`_freeze_stages`. ``_norm_types`` are the layers ``norm_eval``
    keeps in eval mode."""

    _norm_types: Tuple[Type[nn.Module], ...] = (
        nn.modules.batchnorm._BatchNorm, )

    @property
    def stages(self) -> List[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv1, self.bn1] + self.stages[:self.frozen_stages]
        for module in frozen:
            module.eval()
            for p in module.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> nn.Module:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, self._norm_types):
                    m.eval()
        return self
