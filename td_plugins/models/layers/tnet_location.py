"""TNet location module: attendance probabilities over an n x n grid.

Papadopoulos et al., "Hard-Attention for Scalable Image Classification"
(NeurIPS 2021), section 3.2 and appendix 2.1, as the official code
(docs/tnet.md, "Location module").
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .amp import at_least_float32, autocast_off
from .tnet_keras_init import glorot_normal_, variance_scaling_

__all__ = ['TNetLocationModule', 'MeshgridEncoding',
           'TNET_LOCATION_VARIANTS']

TNET_LOCATION_VARIANTS = ('context', 'se')


class MeshgridEncoding(nn.Module):
    """Append learned-scale y and x coordinate channels to a feature map.

    Example:
        >>> import torch
        >>> MeshgridEncoding()(torch.zeros(2, 8, 5, 5)).shape
        torch.Size([2, 10, 5, 5])
    """

    def __init__(self) -> None:
        super().__init__()
        self.height_scaling = nn.Linear(1, 1)
        self.width_scaling = nn.Linear(1, 1)
        for fc in (self.height_scaling, self.width_scaling):
            nn.init.ones_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
        ys = self.height_scaling(ys.unsqueeze(-1))      # [h, 1]
        xs = self.width_scaling(xs.unsqueeze(-1))       # [w, 1]
        ys = ys.view(1, 1, h, 1).expand(b, 1, h, w)
        xs = xs.view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([x, ys, xs], dim=1)


def _positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) \
            or value < minimum:
        raise ValueError(f'{name} must be an integer >= {minimum}, got '
                         f'{value!r}')


class TNetLocationModule(nn.Module):
    """Probabilities of attending each cell of an n x n candidate grid.

    Args:
        in_channels (int): Channels C of the grid features (1024 for the
            BagNet-77 part4 map, 80 for EN-B0).
        variant (str): ``'context'`` (ImageNet) or ``'se'`` (fMoW/CUB).
            Defaults to ``'context'``.
        context_dim (int): Width of the global context feature (> 0 for
            ``'context'``, 0 for ``'se'``). Defaults to 0.
        hidden_channels (int, optional): Width of the hidden 1x1 convs
            (None: ``context_dim`` for ``'context'``, ``in_channels`` for
            ``'se'``).
        detach_inputs (bool): Stop gradients into the inputs. Defaults to
            True.

    Example:
        >>> loc = TNetLocationModule(1024, 'context', context_dim=512)
        >>> p = loc(torch.rand(2, 1024, 5, 5), torch.rand(2, 512))
        >>> p.shape, round(p.sum(-1)[0].item(), 4)
        (torch.Size([2, 25]), 1.0)
        >>> sum(q.numel() for q in loc.parameters())
        788485
    """

    def __init__(self, in_channels: int, variant: str = 'context',
                 context_dim: int = 0, hidden_channels: Optional[int] = None,
                 detach_inputs: bool = True) -> None:
        super().__init__()
        if variant not in TNET_LOCATION_VARIANTS:
            raise ValueError(f'variant must be one of '
                             f'{TNET_LOCATION_VARIANTS}, got {variant!r}')
        _positive_int('in_channels', in_channels,
                      2 if variant == 'se' else 1)
        if variant == 'context':
            _positive_int('context_dim', context_dim, 1)
        elif context_dim != 0:
            raise ValueError(f"context_dim must be 0 for variant 'se' (the SE "
                             f"supplies the context), got {context_dim!r}")
        if hidden_channels is None:
            hidden_channels = context_dim if variant == 'context' \
                else in_channels
        _positive_int('hidden_channels', hidden_channels,
                      2 if variant == 'se' else 1)
        if not isinstance(detach_inputs, bool):
            raise ValueError(f'detach_inputs must be True or False, got '
                             f'{detach_inputs!r}')
        self.in_channels, self.variant = in_channels, variant
        self.context_dim, self.hidden_channels = context_dim, hidden_channels
        self.detach_inputs = detach_inputs
        self.meshgrid = MeshgridEncoding()
        if variant == 'context':
            self.conv = nn.Conv2d(in_channels + context_dim + 2,
                                  hidden_channels, 1)
            self.output_linear = nn.Conv2d(hidden_channels, 1, 1)
            convs = (self.conv, self.output_linear)
            for conv in convs:
                glorot_normal_(conv.weight)
        else:
            squeezed = max(1, int(hidden_channels * 0.5))
            self.init_conv = nn.Conv2d(in_channels, hidden_channels, 1)
            self.se_conv1 = nn.Conv2d(hidden_channels, squeezed, 1)
            self.se_conv2 = nn.Conv2d(squeezed, hidden_channels, 1)
            self.final_conv = nn.Conv2d(hidden_channels + 2,
                                        hidden_channels, 1)
            self.output_linear = nn.Conv2d(hidden_channels, 1, 1)
            convs = (self.init_conv, self.se_conv1, self.se_conv2,
                     self.final_conv, self.output_linear)
            for conv in convs:
                variance_scaling_(conv.weight, 2.0, 'fan_out',
                                  'truncated_normal')
        for conv in convs:
            nn.init.zeros_(conv.bias)

    def _check_inputs(self, grid: torch.Tensor,
                      context: Optional[torch.Tensor]) -> None:
        if grid.dim() != 4 or grid.shape[1] != self.in_channels \
                or grid.shape[2] != grid.shape[3]:
            raise ValueError(f'grid must be a square [B, {self.in_channels}, '
                             f'n, n] map, got {tuple(grid.shape)}')
        if self.variant == 'context':
            if context is None:
                raise ValueError("variant 'context' needs a context tensor "
                                 f'[B, {self.context_dim}]')
            if context.shape != (grid.shape[0], self.context_dim):
                raise ValueError(f'context must have shape '
                                 f'[{grid.shape[0]}, {self.context_dim}], '
                                 f'got {tuple(context.shape)}')

    def logits(self, grid: torch.Tensor,
               context: Optional[torch.Tensor] = None) -> torch.Tensor:
        """L2-normalised ``[B, n*n]`` logits of ``grid`` (and ``context``)."""
        self._check_inputs(grid, context)
        if self.detach_inputs:
            grid = grid.detach()
            context = None if context is None else context.detach()
        if self.variant == 'context':
            n = grid.shape[-1]
            tiled = context[:, :, None, None].expand(-1, -1, n, n)
            x = self.meshgrid(torch.cat([grid, tiled], dim=1))
            x = F.leaky_relu(self.conv(x), 0.2)
        else:
            x = F.silu(self.init_conv(grid))
            s = F.silu(self.se_conv1(x.mean(dim=(2, 3), keepdim=True)))
            x = x * torch.sigmoid(self.se_conv2(s))
            x = F.silu(self.final_conv(self.meshgrid(x)))
        logits = self.output_linear(x).flatten(1)
        with autocast_off(logits):
            logits = logits.to(at_least_float32(logits.dtype))
            return F.normalize(logits, p=2.0, dim=-1)

    def forward(self, grid: torch.Tensor,
                context: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Probabilities ``[B, n*n]``, float32 or wider."""
        logits = self.logits(grid, context)
        with autocast_off(logits):
            return torch.softmax(logits, dim=-1)
