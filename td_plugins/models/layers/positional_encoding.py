"""Fixed sine/cosine encoding of TNet's (y, x, s) location triplets.

Papadopoulos, Korus and Memon, "Hard-Attention for Scalable Image
Classification" (NeurIPS 2021), section 3.2: the sinusoidal encoding of
Vaswani et al. with three "time" axes, two spatial and one of scale
(``shared/spec/methods.md`` section 4.1, "Positional encoding"). With
``K = dim // 6`` angular frequencies

    w_k = (1 / min_inv_freq) * (min_inv_freq / max_inv_freq) ** (k / (K - 1)),

``k = 0..K-1`` (with the call sites' ``min_inv_freq = 1``, ``max_inv_freq =
100``: ``w_k = 100 ** (-k / (K - 1))``), the encoding of ``(y, x, s)`` is

    [sin(y w), cos(y w) | sin(x w), cos(x w) | sin(s w), cos(s w) | 0 ...]

with ``dim - 6K`` trailing zeros (K = 85 for dim 512, K = 53 for dim 320).
"""
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
    """The ``K = dim // 6`` angular frequencies ``w_k`` (float32).

    Args:
        dim (int): Encoding width D (>= 12).
        min_inv_freq (float): Smallest inverse angular frequency (``w_0 =
            1 / min_inv_freq``). Defaults to 1.0.
        max_inv_freq (float): Largest inverse angular frequency (``w_{K-1} =
            1 / max_inv_freq``). Defaults to 100.0.
        device (optional): Device of the result. Defaults to None.

    Returns:
        Tensor: ``[K]``.
    """
    _check(dim, min_inv_freq, max_inv_freq)
    num = dim // 6
    step = math.log(float(min_inv_freq) / float(max_inv_freq)) / (num - 1)
    k = torch.arange(num, dtype=torch.float32, device=device)
    return torch.exp(k * step) / float(min_inv_freq)


def sincos_position_encoding(pos: torch.Tensor, dim: int,
                             min_inv_freq: float = 1.0,
                             max_inv_freq: float = 100.0) -> torch.Tensor:
    """Encode ``(y, x, s)`` triplets with sines and cosines (TNet, spec 4.1).

    Args:
        pos (Tensor): ``[..., 3]`` positions ``(y, x, s)``: grid row and
            column at their level (``y = y_parent * n + i``, ``x = x_parent *
            n + j``) and the level index ``s`` (0 for the whole image).
        dim (int): Encoding width D (>= 12); ``D - 6 * (D // 6)`` trailing
            zeros pad the output.
        min_inv_freq (float): Smallest inverse angular frequency. Defaults
            to 1.0 (the official call sites).
        max_inv_freq (float): Largest inverse angular frequency. Defaults to
            100.0 (the official call sites).

    Returns:
        Tensor: ``[..., dim]``, in ``pos``'s floating dtype (float32 for an
        integer ``pos``).

    Example:
        >>> pe = sincos_position_encoding(torch.tensor([[0., 0., 0.],
        ...                                             [3., 4., 1.]]), 512)
        >>> pe.shape
        torch.Size([2, 512])
        >>> pe[0, :85].abs().max().item(), pe[0, 85:170].min().item()
        (0.0, 1.0)
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
