"""TDAM's channel-then-spatial gating in one autograd node.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 3, eqs. 6-8: the
channel gate ``c = sigmoid(S)`` (eq. 6), then the spatial gate
``g = sigmoid(sum_k S_k (c x)_k)`` (eq. 7) of the channel-gated map, and
the output ``c g x`` (eq. 8). Autograd of the plain expression keeps the
channel-gated map and walks it about ten times in backward; this node keeps
only ``x`` and the two small gates (docs/tdam.md, "The searchlight's fcs
and one node for the gates").
"""
from typing import Tuple

import torch

__all__ = ['channel_spatial_gate', 'fused_gate_applies']


def fused_gate_applies(x: torch.Tensor, s: torch.Tensor) -> bool:
    """Whether TDAM's attention gates ``x`` with :func:`channel_spatial_gate`.

    Where a backward pass follows, in eager mode, on a contiguous float32 or
    float64 map (N, C, ...). Inference, ``torch.compile`` (inductor fuses
    the plain expression), export, other dtypes (autocast's float16 and
    bfloat16) and layouts take the plain path.
    """
    return torch.is_grad_enabled() and (x.requires_grad or s.requires_grad) \
        and not torch.compiler.is_compiling() \
        and not torch.jit.is_tracing() and not torch.jit.is_scripting() \
        and x.dim() >= 3 and x.dtype in (torch.float32, torch.float64) \
        and x.is_contiguous()


class _ChannelSpatialGate(torch.autograd.Function):
    """``y = c g x`` for x (N, C, L) and logits s (N, C); see the module.

    With ``a = s c`` and ``z = sum_k a_k x_k``: ``dx = dy c g + a dz``,
    ``dz = g (1 - g) sum_k c_k dy_k x_k``, ``dc = sum_l g dy x + s da``
    and ``ds = c (1 - c) dc + c da`` with ``da = sum_l dz x``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        c = torch.sigmoid(s)
        a = s * c
        g = torch.sigmoid(torch.bmm(a.unsqueeze(1), x))       # (N, 1, L)
        ctx.save_for_backward(x, s, c, g)
        return (x * c.unsqueeze(2)).mul_(g)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy: torch.Tensor
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
        x, s, c, g = ctx.saved_tensors
        a = s * c
        dyx = dy * x
        dc = torch.bmm(dyx, g.transpose(1, 2)).squeeze(2)    # (N, C)
        dz = torch.bmm(c.unsqueeze(1), dyx) * g * (1 - g)    # (N, 1, L)
        da = torch.bmm(x, dz.transpose(1, 2)).squeeze(2)     # (N, C)
        dx = (dy * c.unsqueeze(2)).mul_(g).addcmul_(a.unsqueeze(2), dz)
        dc = dc + s * da
        ds = c * (1 - c) * dc + c * da
        return dx, ds


def channel_spatial_gate(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``c g x``: TDAM's channel then spatial gates (eqs. 6-8).

    Args:
        x (Tensor): The attended map (N, C, ...), as
            :func:`fused_gate_applies` allows.
        s (Tensor): The searchlight S, (N, C) or (N, C, 1, ...), in x's
            dtype.

    Returns:
        Tensor: x's shape and dtype.

    Example:
        >>> x, s = torch.randn(2, 4, 3, 5), torch.randn(2, 4)
        >>> c = torch.sigmoid(s)[:, :, None, None]
        >>> g = torch.sigmoid(((s[:, :, None, None] * c) * x).sum(1, True))
        >>> torch.allclose(channel_spatial_gate(x, s), x * c * g, atol=1e-6)
        True
    """
    n, ch = x.shape[:2]
    out = _ChannelSpatialGate.apply(x.view(n, ch, -1), s.reshape(n, ch))
    return out.view(x.shape)
