"""DSF, the downsample function of TDAF's recursive flows (Pang et al.,
"TDAF", AAAI 2021, eq. 2; the operator is chosen in docs/tdaf.md, "DSF").
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['DSF_MODES', 'DownsampleFunction']

DSF_MODES = ('avg_pool', 'linear')


class DownsampleFunction(nn.Module):
    """Parameter-free stride-``s`` downsampling of a 2D or 3D feature map.

    Args:
        dims (int): 2 (N, C, H, W) or 3 (N, C, T, H, W). Defaults to 2.
        mode (str): ``'avg_pool'`` or ``'linear'``. Defaults to
            ``'avg_pool'``.
        stride (int): The downsampling factor. Defaults to 2.

    Example:
        >>> dsf = DownsampleFunction(dims=3, mode='linear')
        >>> dsf(torch.rand(1, 3, 16, 64, 63)).shape
        torch.Size([1, 3, 8, 32, 32])
    """

    def __init__(self, dims: int = 2, mode: str = 'avg_pool',
                 stride: int = 2) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f'dims must be 2 or 3, got {dims!r}')
        if mode not in DSF_MODES:
            raise ValueError(
                f'mode must be one of {DSF_MODES}, got {mode!r}')
        if not isinstance(stride, int) or isinstance(stride, bool) \
                or stride < 1:
            raise ValueError(
                f'stride must be an integer >= 1, got {stride!r}')
        self.dims = dims
        self.mode = mode
        self.stride = stride

    def output_size(self, size: Tuple[int, ...]) -> Tuple[int, ...]:
        """The output size for input size ``size``: ``ceil(size / stride)``."""
        return tuple(math.ceil(s / self.stride) for s in size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2:
            raise ValueError(
                f'DownsampleFunction(dims={self.dims}) expects a '
                f'{self.dims + 2}-D input, got shape {tuple(x.shape)}')
        if self.stride == 1:
            return x
        if self.mode == 'avg_pool':
            pool = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
            return pool(x, kernel_size=self.stride, stride=self.stride,
                        ceil_mode=True, count_include_pad=False)
        return F.interpolate(
            x, size=self.output_size(tuple(x.shape[2:])),
            mode='bilinear' if self.dims == 2 else 'trilinear',
            align_corners=False)

    def extra_repr(self) -> str:
        return f'dims={self.dims}, mode={self.mode!r}, stride={self.stride}'
