"""CBAM (Woo et al., ECCV 2018, eqs. 1-3) and the reduced forms of Zhu et al.
(ICANN 2021, section 4); see docs/aw.md, "SE and CBAM"."""
from typing import Sequence

import torch
import torch.nn as nn

__all__ = ['CBAM']


class CBAM(nn.Module):
    """Convolutional block attention module (configurable parts).

    Args:
        channels (int): Channels C of the input.
        reduction (int): Hidden width ``channels // reduction``.
        pools (Sequence[str]): Channel descriptors, ``'avg'`` and/or ``'max'``.
        spatial (bool): Spatial attention after the channel attention.
        spatial_kernel (int): Kernel of the spatial conv. Defaults to 7.

    Example:
        >>> CBAM(64, pools=('avg', ))(torch.rand(2, 64, 5, 7)).shape
        torch.Size([2, 64, 5, 7])
    """

    def __init__(self, channels: int, reduction: int = 16,
                 pools: Sequence[str] = ('avg', 'max'), spatial: bool = True,
                 spatial_kernel: int = 7) -> None:
        super().__init__()
        if not isinstance(reduction, int) or not 1 <= reduction <= channels:
            raise ValueError(f'reduction must be an integer in [1, channels='
                             f'{channels}], got {reduction!r}')
        pools = tuple(pools)
        if not pools or not set(pools) <= {'avg', 'max'}:
            raise ValueError(f"pools must be a non-empty subset of ('avg', "
                             f"'max'), got {pools!r}")
        hidden = channels // reduction
        self.pools = pools
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.spatial = spatial
        if spatial:
            self.spatial_conv = nn.Conv2d(2, 1, spatial_kernel,
                                          padding=spatial_kernel // 2,
                                          bias=False)
            self.spatial_bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = 0
        for pool in self.pools:
            d = x.mean(dim=(2, 3), keepdim=True) if pool == 'avg' else \
                x.amax(dim=(2, 3), keepdim=True)
            logits = logits + self.fc2(torch.relu(self.fc1(d)))
        x = x * torch.sigmoid(logits)
        if self.spatial:
            desc = torch.cat([x.mean(dim=1, keepdim=True),
                              x.amax(dim=1, keepdim=True)], dim=1)
            x = x * torch.sigmoid(self.spatial_bn(self.spatial_conv(desc)))
        return x
