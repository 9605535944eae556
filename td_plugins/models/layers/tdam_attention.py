"""The top-down "searchlight" attention of TDAM.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 3, eqs. 4-8, as the
official ``TD_Spotlight_Attention``; modes, widths and orders are in
docs/tdam.md, "The searchlight attention".
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .amp import at_least_float32, autocast_off
from .tdam_gate import channel_spatial_gate, fused_gate_applies

__all__ = ['TopDownAttention', 'TD_MODES', 'TD_ORDERS', 'TD_WIDTHS',
           'check_td_args']

TD_MODES = ('joint', 'top')
TD_ORDERS = ('channel->spatial', 'spatial->channel', 'spatial', 'channel',
             'parallel')
TD_WIDTHS = ('code', 'paper')


def _check_choice(name: str, value: object, valid: Tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f'{name} must be one of {valid}, got {value!r}')


def _positive_int(name: str, value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be {what}, got {value!r}')


def check_td_args(td_mode: str, feedback_distance: int,
                  valid_distances: Tuple[int, ...], block: str,
                  num_steps: int, reduction: int = 16,
                  td_order: str = 'channel->spatial',
                  td_widths: str = 'code') -> None:
    """Refuse TD arguments a backbone's block does not support.

    Args:
        valid_distances (tuple): The feedback distances m of ``block``.
        block (str): The block's name, for the message.
    """
    _check_choice('td_mode', td_mode, TD_MODES)
    if isinstance(feedback_distance, bool) or \
            feedback_distance not in valid_distances:
        raise ValueError(f'feedback_distance must be one of '
                         f'{tuple(valid_distances)} for {block}, got '
                         f'{feedback_distance!r}')
    _positive_int('num_steps', num_steps, 'an integer >= 1')
    _positive_int('reduction', reduction, 'a positive integer')
    _check_choice('td_order', td_order, TD_ORDERS)
    _check_choice('td_widths', td_widths, TD_WIDTHS)


def _gap(x: torch.Tensor) -> torch.Tensor:
    """Global average pool over every axis after the channels (2D or 3D)."""
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


class TopDownAttention(nn.Module):
    """TDAM's searchlight: select features of ``bottom`` guided by ``top``.

    Args:
        bottom_channels (int): Channels C0 of the attended (lower) map.
        top_channels (int): Channels CN of the guiding (higher) map.
        mode (str): ``'joint'`` or ``'top'``. Defaults to ``'joint'``.
        reduction (int): r; the hidden width is ``top_channels // r``.
            Defaults to 16.
        order (str): One of :data:`TD_ORDERS`. Defaults to
            ``'channel->spatial'``.
        widths (str): ``'code'`` (official, default) or ``'paper'``.
        dims (int): 2 for images, 3 for videos. Defaults to 2.

    Example:
        >>> td = TopDownAttention(256, 1024, mode='joint')
        >>> td(torch.rand(2, 256, 14, 14), torch.rand(2, 1024, 14, 14)).shape
        torch.Size([2, 256, 14, 14])
        >>> sum(p.numel() for p in td.parameters())  # 1024*64+256*64+128*256
        114688
    """

    def __init__(self, bottom_channels: int, top_channels: int,
                 mode: str = 'joint', reduction: int = 16,
                 order: str = 'channel->spatial', widths: str = 'code',
                 dims: int = 2) -> None:
        super().__init__()
        _check_choice('td_mode', mode, TD_MODES)
        _check_choice('order', order, TD_ORDERS)
        _check_choice('widths', widths, TD_WIDTHS)
        for name, value in (('bottom_channels', bottom_channels),
                            ('top_channels', top_channels),
                            ('reduction', reduction)):
            _positive_int(name, value, 'a positive integer')
        if dims not in (2, 3):
            raise ValueError(f'dims must be 2 or 3, got {dims!r}')
        rd = top_channels // reduction
        rd_bottom = rd if widths == 'code' else bottom_channels // reduction
        if rd < 1 or (mode == 'joint' and rd_bottom < 1):
            raise ValueError(
                f'reduction {reduction} leaves no hidden channels for '
                f'top_channels={top_channels}, '
                f'bottom_channels={bottom_channels}')
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.mode, self.order = mode, order
        self.widths, self.dims = widths, dims
        self.top_fc = conv(top_channels, rd, 1, bias=False)
        if mode == 'joint':
            self.bottom_fc = conv(bottom_channels, rd_bottom, 1, bias=False)
            self.fuse = conv(rd + rd_bottom, bottom_channels, 1, bias=False)
        else:
            self.fuse = conv(rd, bottom_channels, 1, bias=False)

    @staticmethod
    def _fc(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """A bias-free 1x1 ``conv`` of a pooled (B, C) map, as the matrix
        product it is (a convolution call on 1x1 maps costs 5-10x more)."""
        return F.linear(x, conv.weight.flatten(1))

    def searchlight(self, bottom: torch.Tensor,
                    top: torch.Tensor) -> torch.Tensor:
        """S (eqs. 4-5), shape ``(B, C0, 1, 1[, 1])``, before any sigmoid."""
        hidden = torch.relu(self._fc(self.top_fc, _gap(top).flatten(1)))
        if self.mode == 'joint':
            hidden = torch.cat([hidden, torch.relu(self._fc(
                self.bottom_fc, _gap(bottom).flatten(1)))], dim=1)
        s = self._fc(self.fuse, hidden)
        return s.view(s.shape + (1, ) * self.dims)

    @staticmethod
    def _spatial_gate(s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(sum_c S_c x_c)`` (eq. 7), (B, 1, ...), float32 sum."""
        acc = at_least_float32(x.dtype)
        with autocast_off(x):
            logits = torch.einsum('bc,bc...->b...', s.flatten(1).to(acc),
                                  x.to(acc)).unsqueeze(1)
            return torch.sigmoid(logits).to(x.dtype)

    def forward(self, bottom: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        if bottom.dim() != self.dims + 2 or top.dim() != self.dims + 2:
            raise ValueError(
                f'TopDownAttention(dims={self.dims}) expects '
                f'{self.dims + 2}-D inputs, got {tuple(bottom.shape)} and '
                f'{tuple(top.shape)}')
        s = self.searchlight(bottom, top)
        if self.order == 'channel->spatial' and fused_gate_applies(bottom, s):
            with autocast_off(bottom):
                return channel_spatial_gate(bottom, s.to(bottom.dtype))
        if self.order == 'spatial':
            return bottom * self._spatial_gate(s, bottom)
        channel = torch.sigmoid(s).to(bottom.dtype)
        if self.order == 'parallel':
            return bottom * channel * self._spatial_gate(s, bottom)
        if self.order == 'spatial->channel':
            return bottom * self._spatial_gate(s, bottom) * channel
        if self.order == 'channel':
            return bottom * channel
        x = bottom * channel
        return x * self._spatial_gate(s, x)

    def extra_repr(self) -> str:
        return (f'mode={self.mode!r}, order={self.order!r}, '
                f'widths={self.widths!r}')
