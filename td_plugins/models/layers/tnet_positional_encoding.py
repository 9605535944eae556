"""TNet's sin/cos (y, x, s) encoding (Papadopoulos et al., 2021, sec. 3.2)."""
import math

import torch

__all__ = ['sincos_position_encoding', 'sincos_frequencies']


def _check(dim: int, min_inv_freq: float, max_inv_freq: float) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 12:
        raise ValueError(f'dim must be an integer >= 12 (at least 2 '
                         f'frequencies per axis of (y, x, s)), got {dim!r}')
    for name, value in (('min_inv_freq', min_inv_freq),
                        ('max_inv_freq', max_inv_freq)):
        if not (isinstance(value, (int, float)) and value > 0
                and math.isfinite(value)):
            raise ValueError(f'{name} must be a positive finite number, '
                             f'got {value!r}')


def sincos_frequencies(dim: int, min_inv_freq: float = 1.0,
                       max_inv_freq: float = 100.0,
                       device=None) -> torch.Tensor:
    """The ``K = dim // 6`` frequencies ``w_k``, ``[K]`` float32."""
    _check(dim, min_inv_freq, max_inv_freq)
    num = dim // 6
    step = math.log(float(min_inv_freq) / float(max_inv_freq)) / (num - 1)
    k = torch.arange(num, dtype=torch.float32, device=device)
    return torch.exp(k * step) / float(min_inv_freq)


def sincos_position_encoding(pos: torch.Tensor, dim: int,
                             min_inv_freq: float = 1.0,
                             max_inv_freq: float = 100.0) -> torch.Tensor:
    """Encode ``(y, x, s)`` triplets as ``[..., dim]`` sines and cosines.

    Args:
        pos (Tensor): ``[..., 3]`` positions ``(y, x, s)``.
        dim (int): Encoding width D (>= 12).
        min_inv_freq, max_inv_freq (float): ``1 / w_0``, ``1 / w_{K-1}``.

    Example:
        >>> pe = sincos_position_encoding(torch.tensor([[0., 0., 0.],
        ...                                             [3., 4., 1.]]), 512)
        >>> pe.shape, pe[0, :85].abs().max().item(), pe[0, 85:170].min().item()
        (torch.Size([2, 512]), 0.0, 1.0)
    """
    _check(dim, min_inv_freq, max_inv_freq)
    if pos.dim() < 1 or pos.shape[-1] != 3:
        raise ValueError(f'pos must have shape [..., 3] (y, x, s), got '
                         f'{tuple(pos.shape)}')
    if not pos.is_floating_point():
        pos = pos.float()
    freqs = sincos_frequencies(dim, min_inv_freq, max_inv_freq,
                               device=pos.device).to(pos.dtype)
    angles = pos.unsqueeze(-1) * freqs                        # [..., 3, K]
    signal = torch.cat([angles.sin(), angles.cos()], dim=-1)  # [..., 3, 2K]
    signal = signal.flatten(-2)                               # [..., 6K]
    pad = dim - signal.shape[-1]
    if pad:
        signal = torch.cat([signal, signal.new_zeros(*signal.shape[:-1], pad)],
                           dim=-1)
    return signal
