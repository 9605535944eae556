"""Keras ``VarianceScaling`` initialisers, as TNet's official Keras code uses
them (Papadopoulos et al., NeurIPS 2021; docs/tnet.md).
"""
import math

import torch
import torch.nn as nn

__all__ = ['variance_scaling_', 'glorot_normal_', 'KERAS_MODES',
           'KERAS_DISTRIBUTIONS']

KERAS_MODES = ('fan_in', 'fan_out', 'fan_avg')
KERAS_DISTRIBUTIONS = ('truncated_normal', 'normal', 'uniform')
# Standard deviation of a unit normal truncated to [-2, 2].
_TRUNC_STD = 0.87962566103423978


@torch.no_grad()
def variance_scaling_(tensor: torch.Tensor, scale: float = 1.0,
                      mode: str = 'fan_in',
                      distribution: str = 'truncated_normal') -> torch.Tensor:
    """Fill ``tensor`` in place as ``keras.initializers.VarianceScaling``.

    Args:
        tensor (Tensor): A weight with at least two dimensions.
        scale (float): Positive scaling factor. Defaults to 1.0.
        mode (str): One of :data:`KERAS_MODES`. Defaults to ``'fan_in'``.
        distribution (str): One of :data:`KERAS_DISTRIBUTIONS`.

    Example:
        >>> w = variance_scaling_(torch.empty(256, 128), 2.0, 'fan_out')
        >>> bool(w.abs().max() <= 2 * (2.0 / 256) ** 0.5 / 0.87962566)
        True
    """
    if mode not in KERAS_MODES:
        raise ValueError(f'mode must be one of {KERAS_MODES}, got {mode!r}')
    if distribution not in KERAS_DISTRIBUTIONS:
        raise ValueError(f'distribution must be one of {KERAS_DISTRIBUTIONS}'
                         f', got {distribution!r}')
    if not scale > 0:
        raise ValueError(f'scale must be positive, got {scale!r}')
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(tensor)
    fan = {'fan_in': fan_in, 'fan_out': fan_out,
           'fan_avg': (fan_in + fan_out) / 2.0}[mode]
    variance = scale / max(1.0, fan)
    if distribution == 'uniform':
        limit = math.sqrt(3.0 * variance)
        return nn.init.uniform_(tensor, -limit, limit)
    if distribution == 'normal':
        return nn.init.normal_(tensor, 0.0, math.sqrt(variance))
    return _truncated_normal_(tensor, math.sqrt(variance) / _TRUNC_STD)


def _truncated_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """Normal(0, std) cut to [-2 std, 2 std], redrawing what falls outside."""
    tensor.normal_(0.0, std)
    if tensor.device.type == 'meta':
        return tensor
    flat = tensor.view(-1) if tensor.is_contiguous() else None
    if flat is None:
        return tensor.copy_(_truncated_normal_(torch.empty_like(
            tensor, memory_format=torch.contiguous_format), std))
    outside = (flat.abs() > 2.0 * std).nonzero().flatten()
    while outside.numel():
        redraw = flat.new_empty(outside.numel()).normal_(0.0, std)
        flat[outside] = redraw
        outside = outside[redraw.abs() > 2.0 * std]
    return tensor


def glorot_normal_(tensor: torch.Tensor) -> torch.Tensor:
    """Keras ``glorot_normal``: truncated normal, variance 2 / (in + out)."""
    return variance_scaling_(tensor, 1.0, 'fan_avg', 'truncated_normal')
