"""ANAR, the Attention Network across Recurrence of TDAF, and its gate.

Pang et al., "TDAF" (AAAI 2021), section 3.2, Table 1 and eq. 5; widths and
the choices where the paper is silent are in docs/tdaf.md, "ANAR".
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tdaf_flow import run_flow

__all__ = ['ANAR', 'HalfScaleResidualGate', 'ANAR_WIDTHS', 'check_anar_depth',
           'check_eta']

# depth -> (trans divisor, down divisors, up divisors), all relative to c.
ANAR_WIDTHS = {
    3: (8, (), (32, )),
    5: (4, (8, ), (16, 32)),
    7: (4, (8, 8), (16, 16, 32)),
}


def check_anar_depth(depth: int) -> None:
    """Refuse an ANAR depth that Table 1 does not define."""
    if depth not in ANAR_WIDTHS:
        raise ValueError(f'depth (anar) must be one of '
                         f'{tuple(ANAR_WIDTHS)}, got {depth!r}')


def check_eta(eta: float) -> None:
    """Refuse a half-scale residual weight outside [0, 1]."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) \
            or not 0.0 <= eta <= 1.0:
        raise ValueError(f'eta must be a number in [0, 1], got {eta!r}')


def _crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    slices = [slice(None), slice(None)] + [slice(0, s) for s in size]
    return x[tuple(slices)]


class ANAR(nn.Module):
    """Hourglass attention from flow ``n-1``'s stage output to flow ``n``.

    Args:
        in_channels (int): Channels c of the stage output it reads.
        depth (int): 3, 5 or 7 (ANAR-3/5/7 of Table 1). Defaults to 3.
        dims (int): 2 for images, 3 for videos. Defaults to 2.
        norm_layer (callable, optional): ``channels -> nn.Module``; defaults
            to ``nn.BatchNorm2d`` / ``nn.BatchNorm3d``.
        zero_init_last (bool): Start with a constant 0.5 mask; False: Kaiming
            ``fan_in``. Defaults to True.
        min_channels (int): Lower bound of every hidden width. Defaults to 1.

    Example:
        >>> anar = ANAR(256, depth=5)
        >>> anar(torch.rand(2, 256, 14, 14)).shape
        torch.Size([2, 1, 28, 28])
        >>> anar(torch.rand(2, 256, 14, 14), out_size=(27, 28)).shape
        torch.Size([2, 1, 27, 28])
    """

    def __init__(self, in_channels: int, depth: int = 3, dims: int = 2,
                 norm_layer: Optional[Callable[[int], nn.Module]] = None,
                 zero_init_last: bool = True, min_channels: int = 1) -> None:
        super().__init__()
        check_anar_depth(depth)
        if dims not in (2, 3):
            raise ValueError(f'dims must be 2 or 3, got {dims!r}')
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(
                f'in_channels must be a positive integer, got {in_channels!r}')
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        deconv = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        self.depth = depth
        self.dims = dims

        def width(div: int) -> int:
            return max(min_channels, in_channels // div)

        trans_div, down_divs, up_divs = ANAR_WIDTHS[depth]
        c = width(trans_div)
        self.trans = conv(in_channels, c, 1, bias=False)
        self.trans_norm = norm_layer(c)
        encoder = [c]  # widths of the tensors at successive resolutions
        self.downs = nn.ModuleList()
        self.down_norms = nn.ModuleList()
        for div in down_divs:
            out = width(div)
            self.downs.append(conv(c, out, 3, stride=2, padding=1,
                                   bias=False))
            self.down_norms.append(norm_layer(out))
            encoder.append(out)
            c = out
        self.ups = nn.ModuleList()
        self.up_norms = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.skip_norms = nn.ModuleList()
        for i, div in enumerate(up_divs):
            out = width(div)
            self.ups.append(deconv(c, out, 4, stride=2, padding=1,
                                   bias=False))
            self.up_norms.append(norm_layer(out))
            # The i-th up lands at the resolution of encoder[-2 - i], if any.
            if i < len(down_divs):
                self.skips.append(conv(encoder[-2 - i], out, 1, bias=False))
                self.skip_norms.append(norm_layer(out))
            c = out
        self.last = conv(c, 1, 1, bias=True)
        self.reset_parameters(zero_init_last)

    def reset_parameters(self, zero_init_last: bool = True) -> None:
        """Kaiming init; the last layer zero or Kaiming ``fan_in``."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d,
                              nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                        nonlinearity='relu')
        if zero_init_last:
            nn.init.zeros_(self.last.weight)
        else:
            nn.init.kaiming_normal_(self.last.weight, mode='fan_in',
                                    nonlinearity='relu')
        nn.init.zeros_(self.last.bias)

    def forward(self, x: torch.Tensor,
                out_size: Optional[Sequence[int]] = None,
                flow: Optional[int] = None) -> torch.Tensor:
        """Mask ``(B, 1, *out_size)``; ``out_size`` defaults to twice x's."""
        if x.dim() != self.dims + 2:
            raise ValueError(f'ANAR(dims={self.dims}) expects a '
                             f'{self.dims + 2}-D input, got shape '
                             f'{tuple(x.shape)}')
        if out_size is None:
            out_size = tuple(2 * s for s in x.shape[2:])
        y = F.relu(run_flow(self.trans_norm, self.trans(x), flow),
                   inplace=True)
        encoder: List[torch.Tensor] = [y]
        for down, norm in zip(self.downs, self.down_norms):
            y = F.relu(run_flow(norm, down(y), flow), inplace=True)
            encoder.append(y)
        for i, (up, norm) in enumerate(zip(self.ups, self.up_norms)):
            y = run_flow(norm, up(y), flow)
            if i < len(self.skips):
                skip = encoder[-2 - i]
                y = _crop(y, skip.shape[2:])
                y = y + run_flow(self.skip_norms[i], self.skips[i](skip),
                                 flow)
            y = F.relu(y, inplace=True)
        return torch.sigmoid(self._fit(self.last(y), tuple(out_size)))

    @staticmethod
    def _fit(y: torch.Tensor, size: Tuple[int, ...]) -> torch.Tensor:
        if tuple(y.shape[2:]) == size:
            return y
        if all(a >= b for a, b in zip(y.shape[2:], size)):
            return _crop(y, size)
        mode = 'bilinear' if y.dim() == 4 else 'trilinear'
        return F.interpolate(y, size=size, mode=mode, align_corners=False)


class HalfScaleResidualGate(nn.Module):
    """``h * (g + eta)``, the half-scale residual gate (eq. 5).

    Args:
        eta (float): The shortcut weight, in [0, 1]. Defaults to 0.5.

    Example:
        >>> gate = HalfScaleResidualGate()
        >>> h = torch.ones(1, 4, 2, 2)
        >>> gate(h, torch.full((1, 1, 2, 2), 0.5)).unique()
        tensor([1.])
    """

    def __init__(self, eta: float = 0.5) -> None:
        super().__init__()
        check_eta(eta)
        self.eta = float(eta)

    def forward(self, h: torch.Tensor, g: torch.Tensor,
                inplace: bool = False) -> torch.Tensor:
        """Gate ``h`` with ``g``; ``inplace=True`` overwrites ``h``."""
        scale = g + self.eta
        return h.mul_(scale) if inplace else h * scale

    def extra_repr(self) -> str:
        return f'eta={self.eta}'
