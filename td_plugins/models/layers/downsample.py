"""DSF, the downsample function of TDAF's recursive flows.

Pang, Li, Li, Li, Cao and Lu, "TDAF: Top-Down Attention Framework for Vision
Tasks" (AAAI 2021), eq. 2:
``x_1^(n) = DSF(x_1^(n+1))``, so flow ``n`` of ``N`` sees the input at scale
``2^-(N-n)``. The paper fixes only the stride ("the downsample stride is 2", in its
detection and classification set-ups) and that the 3D variant halves T, H and
W (action recognition); the
operator itself is open (``shared/spec/methods.md`` section 2.1 marks it as a
guess). Both readings are offered: ``'avg_pool'`` (default: 2x2(x2) average
pooling, the cheapest alias-free choice) and ``'linear'`` (bilinear or
trilinear resizing).

Odd sizes round up in both modes, so the output is ``ceil(size / stride)``
along every downsampled axis whatever the mode.
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
        dims (int): 2 for ``(N, C, H, W)`` inputs, 3 for ``(N, C, T, H, W)``
            inputs (T, H and W are all downsampled). Defaults to 2.
        mode (str): ``'avg_pool'`` or ``'linear'``. Defaults to
            ``'avg_pool'``.
        stride (int): The downsampling factor. Defaults to 2.

    Example:
        >>> import torch
        >>> dsf = DownsampleFunction(dims=2)
        >>> dsf(torch.rand(1, 3, 64, 63)).shape
        torch.Size([1, 3, 32, 32])
        >>> dsf3d = DownsampleFunction(dims=3, mode='linear')
        >>> dsf3d(torch.rand(1, 3, 16, 64, 64)).shape
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
        """The spatial (and temporal) size this module outputs for ``size``."""
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
