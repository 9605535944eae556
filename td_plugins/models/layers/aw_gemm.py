"""AW-convolution as one stacked-tap GEMM per phase, then a fused
shift-scale-sum.

Zhu et al., ICANN 2021, section 3, eqs. 5-6: ``O = Conv(I, K * (1 + A))``
with A one value per (sample, output channel, tap), so
``O = sum_t (1 + A_t) * shift_t(K_t @ I)``. The products ``K_t @ I`` of all
taps are one matrix product with the taps stacked along the output channels;
for stride s the input is split into its s x s phases first (polyphase), so
each tap multiplies only the positions it reaches. Why and how fast:
docs/aw.md ("The stacked-GEMM form").
"""
import warnings
from typing import Any, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ['GEMM_FUSIONS', 'aw_gemm', 'gemm_fusion', 'phase_plan',
           'set_gemm_fusion']

# How the shift-scale-sum runs outside an outer ``torch.compile``: one
# inductor-generated loop (``torch.compile`` of :func:`recombine_functional`,
# dynamic shapes), or eager in-place adds over clipped windows. 'eager' is
# the default: 'compile' builds C++ kernels at a layer's first call (minutes
# on a busy CPU; docs/aw.md) and falls back to 'eager', with one warning,
# when inductor cannot. Inside an outer compile the outer graph fuses it.
GEMM_FUSIONS = ('compile', 'eager')
_STATE: Dict[str, Any] = {'fusion': 'eager'}
_Pair = Tuple[int, int]
# One phase: ((phase row, phase column), ((tap, row offset, column
# offset), ...)); tap ``t = i * kw + j`` reads phase rows ``o + q``.
Phase = Tuple[_Pair, Tuple[Tuple[int, int, int], ...]]


def set_gemm_fusion(mode: str) -> None:
    """Choose how :func:`aw_gemm` fuses its shift-scale-sum.

    Args:
        mode (str): One of ``GEMM_FUSIONS``.

    Example:
        >>> set_gemm_fusion('compile'); gemm_fusion()
        'compile'
        >>> set_gemm_fusion('eager')
    """
    if mode not in GEMM_FUSIONS:
        raise ValueError(f'mode must be one of {GEMM_FUSIONS}, got {mode!r}')
    _STATE['fusion'] = mode


def gemm_fusion() -> str:
    """The fusion :func:`aw_gemm` uses now: one of ``GEMM_FUSIONS``."""
    return _STATE['fusion']


def phase_plan(kernel_size: _Pair, stride: _Pair, padding: _Pair,
               dilation: _Pair) -> Tuple[Phase, ...]:
    """The input phases and, per phase, its taps and their offsets.

    Output row ``o`` of tap row ``i`` reads input row ``s o + i d - p``
    ``= s (o + q) + b``: phase ``b = (i d - p) mod s``, row ``o + q`` of it.

    Args:
        kernel_size, stride, padding, dilation: Pairs, as ``nn.Conv2d``.

    Returns:
        tuple: ``((b_h, b_w), ((t, q_h, q_w), ...))`` per phase used.

    Example:
        >>> [(b, len(taps)) for b, taps in
        ...  phase_plan((3, 3), (2, 2), (1, 1), (1, 1))]
        [((0, 0), 1), ((0, 1), 2), ((1, 0), 2), ((1, 1), 4)]
    """
    per_dim = [[divmod(i * d - p, s)[::-1] for i in range(k)]
               for k, s, p, d in zip(kernel_size, stride, padding, dilation)]
    phases: Dict[_Pair, List[Tuple[int, int, int]]] = {}
    for i, (bh, qh) in enumerate(per_dim[0]):
        for j, (bw, qw) in enumerate(per_dim[1]):
            phases.setdefault((bh, bw), []).append(
                (i * kernel_size[1] + j, qh, qw))
    return tuple((b, tuple(taps)) for b, taps in sorted(phases.items()))


def _windows(taps: Sequence[Tuple[int, int, int]], size: _Pair,
             out_size: _Pair) -> Tuple[int, int, int, int]:
    """Zero padding (top, bottom, left, right) that holds every tap's
    window of ``out_size`` rows and columns in a phase of ``size``."""
    (h, w), (oh, ow) = size, out_size
    qh = [t[1] for t in taps]
    qw = [t[2] for t in taps]
    return (max(0, -min(qh)), max(0, max(qh) + oh - h),
            max(0, -min(qw)), max(0, max(qw) + ow - w))


def recombine_functional(ys: List[torch.Tensor], scale: torch.Tensor,
                         plan: Tuple[Phase, ...],
                         out_size: _Pair) -> torch.Tensor:
    """``sum_t scale[:, :, t] * window_t(y)``, out of place (the form
    inductor fuses into one loop with masked loads).

    Args:
        ys (list[Tensor]): Per phase ``(T_b, C_out, N, h_b, w_b)``.
        scale (Tensor): ``(N, C_out, T)``; sets the sum's dtype.
        plan (tuple): The phases of ``ys`` (:func:`phase_plan`).
        out_size (tuple): ``(oh, ow)``.

    Returns:
        Tensor: ``(N, C_out, oh, ow)`` in ``scale``'s dtype.
    """
    oh, ow = out_size
    out = None
    for y, (_, taps) in zip(ys, plan):
        top, bottom, left, right = _windows(taps, y.shape[-2:], out_size)
        y = F.pad(y.to(scale.dtype), (left, right, top, bottom))
        for k, (t, qh, qw) in enumerate(taps):
            win = y[k, :, :, qh + top:qh + top + oh,
                    qw + left:qw + left + ow].transpose(0, 1)
            term = win * scale[:, :, t, None, None]
            out = term if out is None else out + term
    return out.contiguous()


def recombine_eager(ys: List[torch.Tensor], scale: torch.Tensor,
                    plan: Tuple[Phase, ...],
                    out_size: _Pair) -> torch.Tensor:
    """As :func:`recombine_functional`, by in-place adds over each tap's
    window clipped to its phase (no padded copies)."""
    oh, ow = out_size
    n, c = scale.shape[:2]
    out = scale.new_zeros(n, c, oh, ow)
    for y, (_, taps) in zip(ys, plan):
        h, w = y.shape[-2:]
        y = y.to(scale.dtype)
        for k, (t, qh, qw) in enumerate(taps):
            r0, r1 = max(0, -qh), min(oh, h - qh)
            c0, c1 = max(0, -qw), min(ow, w - qw)
            if r0 >= r1 or c0 >= c1:
                continue
            win = y[k, :, :, r0 + qh:r1 + qh, c0 + qw:c1 + qw]
            out[:, :, r0:r1, c0:c1].addcmul_(
                win.transpose(0, 1), scale[:, :, t, None, None])
    return out


def _compiled_recombine(*args: Any) -> torch.Tensor:
    """``torch.compile`` of :func:`recombine_functional`, wrapped at first
    use (importing this module does not load dynamo)."""
    if 'compiled' not in _STATE:
        _STATE['compiled'] = torch.compile(recombine_functional,
                                           dynamic=True)
    return _STATE['compiled'](*args)


def _recombine(ys: List[torch.Tensor], scale: torch.Tensor,
               plan: Tuple[Phase, ...], out_size: _Pair) -> torch.Tensor:
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        # an outer compile fuses it; a trace (ONNX) records it
        return recombine_functional(ys, scale, plan, out_size)
    if _STATE['fusion'] == 'compile':
        try:
            return _compiled_recombine(ys, scale, plan, out_size)
        except Exception as err:   # no working compiler: stay eager
            warnings.warn(f'aw_gemm: torch.compile of the shift-scale-sum '
                          f'failed ({type(err).__name__}: {err}); using '
                          f"the eager form (set_gemm_fusion('eager'))")
            _STATE['fusion'] = 'eager'
    return recombine_eager(ys, scale, plan, out_size)


def aw_gemm(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
            stride: _Pair, padding: _Pair, dilation: _Pair,
            out_size: _Pair) -> Tuple[torch.Tensor, torch.dtype]:
    """``sum_t scale_t * conv(x, K_t)`` by one GEMM per input phase.

    Args:
        x (Tensor): ``(N, C_in, H, W)``.
        weight (Tensor): ``(C_out, C_in, kh, kw)``.
        scale (Tensor): ``(N, C_out, kh, kw)``, ``1 + A``.
        stride, padding, dilation (tuple): Pairs, as ``nn.Conv2d``.
        out_size (tuple): ``(oh, ow)``.

    Returns:
        tuple: The sum ``(N, C_out, oh, ow)`` in ``scale``'s dtype, no
        bias; the dtype of the products (autocast's under autocast).

    Example:
        >>> x, k = torch.randn(2, 4, 9, 7), torch.randn(6, 4, 3, 3)
        >>> out, dtype = aw_gemm(x, k, torch.ones(2, 6, 3, 3), (2, 2),
        ...                      (1, 1), (1, 1), (5, 4))
        >>> out.shape, dtype
        (torch.Size([2, 6, 5, 4]), torch.float32)
    """
    n, c = x.shape[:2]
    c_out, _, kh, kw = weight.shape
    plan = phase_plan((kh, kw), stride, padding, dilation)
    taps_first = weight.permute(2, 3, 0, 1).reshape(kh * kw, c_out, c)
    (sh, sw), ys, used = stride, [], []
    for (bh, bw), taps in plan:
        xb = x[:, :, bh::sh, bw::sw]
        h, w = xb.shape[2:]
        if h == 0 or w == 0:   # a phase beyond a small input: no terms
            continue
        index = [t for t, _, _ in taps]
        stacked = taps_first[index] if len(index) < kh * kw else taps_first
        y = torch.mm(stacked.reshape(len(index) * c_out, c),
                     xb.transpose(0, 1).reshape(c, n * h * w))
        ys.append(y.view(len(index), c_out, n, h, w))
        used.append(((bh, bw), taps))
    scale = scale.reshape(n, c_out, kh * kw)
    if not ys:
        return scale.new_zeros(n, c_out, *out_size), x.dtype
    return _recombine(ys, scale, tuple(used), out_size), ys[0].dtype
