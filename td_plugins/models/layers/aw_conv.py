"""AW-convolution: a convolution whose weights carry per-sample attention.

Zhu, Hofstee, Lee and Al-Ars, "An Attention Module for Convolutional Neural
Networks" (ICANN 2021), section 3: attentional weights ``AK = K + A * K``
(eq. 6), output ``O = Conv(I, AK)`` per sample (eq. 5), attention branch
eqs. 7-8 and Fig. 1b. The branch, the three exact forms (``impl``), their
speed and mixed precision are described in docs/aw.md.
"""
import math
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .aw_gemm import aw_gemm, gemm_fusion

__all__ = ['AWConv2d', 'AW_IMPLS', 'AW_NORMS', 'AW_POOL_IMPLS',
           'AUTO_MIN_POSITIONS', 'AUTO_MIN_POSITIONS_TRAIN',
           'adaptive_pool_matrix', 'build_attn_norm',
           'check_attn_norm_cfg']

AW_IMPLS = ('auto', 'taps', 'fold', 'reference', 'gemm')
# How A0 pools the input to the kernel's size: ``F.adaptive_avg_pool2d``, or
# two matrix products with its averaging matrices (the same averages, and
# exportable to ONNX at any input size: tools/deployment/export_onnx.py).
AW_POOL_IMPLS = ('adaptive', 'matrix')
# 'auto' uses the per-sample kernels ('reference') when each kernel serves
# at least this many output positions (their construction is then a small
# part of the work). Below that: the stacked GEMM when its shift-scale-sum
# is fused (aw_gemm.py; under torch.compile or set_gemm_fusion('compile')),
# else, in training, 'reference' down to AUTO_MIN_POSITIONS_TRAIN, then
# col2im ('fold', stride 1) or the taps; in inference the taps. From the
# ratios to nn.Conv2d of python benchmarks/bench_aw_conv.py
# (benchmarks/results/aw_conv.md): in training 'reference' wins at 14x14
# (196 positions) and 'fold' at 7x7; in inference 'reference' from 28x28
# and the taps at 14x14 and below.
AUTO_MIN_POSITIONS = 400
AUTO_MIN_POSITIONS_TRAIN = 196
_Pair = Union[int, Tuple[int, int]]
# The attention branch's norm types (``attn_norm_cfg``), mmcv's names; each
# maps to the keys a dict of that type may carry besides ``type``.
AW_NORMS = ('BN', 'SyncBN', 'GN', None)
_NORM_KEYS: Dict[str, Tuple[str, ...]] = {
    'BN': ('eps', 'momentum', 'requires_grad'),
    'SyncBN': ('eps', 'momentum', 'requires_grad'),
    'GN': ('num_groups', 'eps', 'requires_grad'),
}
AttnNormCfg = Union[None, str, Dict[str, Any]]


def _pair(value: _Pair, name: str) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f'{name} must be an int or a pair of ints, got '
                         f'{value!r}')
    return pair


def check_attn_norm_cfg(cfg: AttnNormCfg) -> Optional[Dict[str, Any]]:
    """``attn_norm_cfg`` as a checked dict (a copy), None for no norm."""
    if cfg is None or isinstance(cfg, str):
        spec = None if cfg is None else dict(type=cfg)
    elif isinstance(cfg, dict):
        spec = dict(cfg)
    else:
        spec = dict(type=object())   # refused below
    if spec is None:
        return None
    kind = spec.pop('type', None)
    if kind not in _NORM_KEYS:
        raise ValueError(
            f'attn_norm_cfg must be one of {AW_NORMS} or a dict whose '
            f'type is one of {AW_NORMS[:-1]}, got {cfg!r}')
    unknown = set(spec) - set(_NORM_KEYS[kind])
    if unknown:
        raise ValueError(
            f'attn_norm_cfg of type {kind!r} takes only the keys '
            f'{_NORM_KEYS[kind]}, got {sorted(unknown)}')
    groups = spec.get('num_groups', 1)
    if kind == 'GN' and (isinstance(groups, bool)
                         or not isinstance(groups, int) or groups < 1):
        raise ValueError(f'attn_norm_cfg num_groups must be a positive '
                         f'integer, got {groups!r}')
    spec['type'] = kind
    return spec


def build_attn_norm(cfg: AttnNormCfg, channels: int) -> nn.Module:
    """The attention branch's norm over ``channels`` from ``attn_norm_cfg``.

    ``'BN'``, ``'SyncBN'``, ``'GN'`` (``num_groups`` defaults to 1) or None
    (``nn.Identity``); dicts take mmcv's keys (docs/aw.md).

    Example:
        >>> build_attn_norm(dict(type='GN', num_groups=1), 16)
        GroupNorm(1, 16, eps=1e-05, affine=True...)
    """
    spec = check_attn_norm_cfg(cfg)
    if spec is None:
        return nn.Identity()
    kind = spec.pop('type')
    requires_grad = spec.pop('requires_grad', True)
    if kind == 'GN':
        groups = spec.pop('num_groups', 1)
        if channels % groups:
            raise ValueError(
                f'attn_norm_cfg num_groups ({groups}) must divide the '
                f'attention branch\'s channels ({channels})')
        norm = nn.GroupNorm(groups, channels, **spec)
    else:
        norm = (nn.BatchNorm2d if kind == 'BN' else nn.SyncBatchNorm)(
            channels, **spec)
    for p in norm.parameters():
        p.requires_grad = requires_grad
    return norm


def adaptive_pool_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """The averaging matrix of 1-D adaptive average pooling.

    Row ``i`` averages inputs ``floor(i * in / out)`` to
    ``ceil((i + 1) * in / out) - 1``, as ``F.adaptive_avg_pool1d``.

    Args:
        size_in (int): Input length.
        size_out (int): Output length.

    Returns:
        torch.Tensor: A ``(size_out, size_in)`` matrix.

    Example:
        >>> adaptive_pool_matrix(5, 3)
        tensor([[0.5000, 0.5000, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.3333, 0.3333, 0.3333, 0.0000],
                [0.0000, 0.0000, 0.0000, 0.5000, 0.5000]])
    """
    matrix = torch.zeros(size_out, size_in)
    for i in range(size_out):
        start = (i * size_in) // size_out
        end = math.ceil((i + 1) * size_in / size_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _widened(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 when autocast runs it in a lower precision."""
    if t.dtype in (torch.float16, torch.bfloat16) and \
            torch.is_autocast_enabled(t.device.type):
        return t.float()
    return t


class AWConv2d(nn.Conv2d):
    """Drop-in ``nn.Conv2d`` with attentional weights ``K * (1 + A)``.

    Args:
        in_channels (int): C_in.
        out_channels (int): C_out.
        kernel_size (int | tuple): Kernel size (h, w).
        stride, padding, dilation: As ``nn.Conv2d``. Defaults to 1, 0, 1.
        groups (int): Only 1 (the paper's AW-convolution is dense).
            Defaults to 1.
        bias (bool): Bias of the main convolution. Defaults to True.
        reduction (int): r; the attention's hidden width is
            ``out_channels // reduction``. Defaults to 16.
        impl (str): ``'auto'``, ``'taps'``, ``'fold'`` (stride 1; else
            ``'taps'``), ``'reference'`` or ``'gemm'`` (docs/aw.md).
            Defaults to 'auto'.
        attn_norm_cfg (str | dict, optional): Norm after each pointconv:
            one of ``AW_NORMS`` or an mmcv-style dict (see
            :func:`build_attn_norm`). Defaults to 'BN'.
        pool_impl (str): ``'adaptive'`` or ``'matrix'`` (ONNX-exportable);
            settable after construction. Defaults to 'adaptive'.

    Example:
        >>> import torch
        >>> conv = AWConv2d(64, 64, 3, padding=1, bias=False)
        >>> conv(torch.rand(2, 64, 17, 12)).shape
        torch.Size([2, 64, 17, 12])
        >>> sum(p.numel() for n, p in conv.named_parameters()
        ...     if n.startswith('attn'))  # 64*4 + 4*64 + 2*4 + 2*64
        648
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: _Pair, stride: _Pair = 1, padding: _Pair = 0,
                 dilation: _Pair = 1, groups: int = 1, bias: bool = True,
                 reduction: int = 16, impl: str = 'auto',
                 attn_norm_cfg: AttnNormCfg = 'BN',
                 pool_impl: str = 'adaptive') -> None:
        for name, value in (('in_channels', in_channels),
                            ('out_channels', out_channels),
                            ('reduction', reduction)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(
                    f'{name} must be a positive integer, got {value!r}')
        if groups != 1:
            raise ValueError(f'groups must be 1 for an AW-convolution, got '
                             f'{groups!r}')
        if impl not in AW_IMPLS:
            raise ValueError(f'impl must be one of {AW_IMPLS}, got {impl!r}')
        _check_pool_impl(pool_impl)
        if reduction > out_channels:
            raise ValueError(
                f'reduction ({reduction}) must not exceed out_channels '
                f'({out_channels}): the attention would have no hidden '
                f'channels')
        norm_spec = check_attn_norm_cfg(attn_norm_cfg)
        kernel_size = _pair(kernel_size, 'kernel_size')
        if isinstance(padding, str):
            raise ValueError(f'padding must be an int or a pair of ints, '
                             f'got {padding!r}')
        super().__init__(in_channels, out_channels, kernel_size,
                         stride=_pair(stride, 'stride'),
                         padding=_pair(padding, 'padding'),
                         dilation=_pair(dilation, 'dilation'), groups=1,
                         bias=bias)
        hidden = out_channels // reduction
        self.reduction = reduction
        self.impl = impl
        self.pool_impl = pool_impl
        self.attn_norm_cfg = norm_spec
        biased = norm_spec is None
        self.attn_conv1 = nn.Conv2d(in_channels, hidden, 1, bias=biased)
        self.attn_bn1 = build_attn_norm(norm_spec, hidden)
        self.attn_conv2 = nn.Conv2d(hidden, out_channels, 1, bias=biased)
        self.attn_bn2 = build_attn_norm(norm_spec, out_channels)
        for conv in (self.attn_conv1, self.attn_conv2):
            nn.init.kaiming_normal_(conv.weight, mode='fan_out',
                                    nonlinearity='relu')

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """A2 (eqs. 7-8), shape ``(N, C_out, h, w)``: one value per sample,
        output channel and kernel tap; float32 under autocast."""
        a = _widened(self.attn_conv1(self._pool(x)))
        a = F.relu(self._norm(self.attn_bn1, a))
        a = _widened(self.attn_conv2(a))
        return torch.sigmoid(self._norm(self.attn_bn2, a))

    @property
    def pool_impl(self) -> str:
        """How A0 is pooled: one of ``AW_POOL_IMPLS``."""
        return self._pool_impl

    @pool_impl.setter
    def pool_impl(self, value: str) -> None:
        _check_pool_impl(value)
        self._pool_impl = value

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """A0: average pooling of the input to the kernel's size."""
        if self._pool_impl == 'adaptive':
            return F.adaptive_avg_pool2d(x, self.kernel_size)
        kh, kw = self.kernel_size
        ph = adaptive_pool_matrix(x.shape[2], kh).to(x)
        pw = adaptive_pool_matrix(x.shape[3], kw).to(x)
        return torch.matmul(ph, torch.matmul(x, pw.t()))

    @staticmethod
    def _norm(norm: nn.Module, a: torch.Tensor) -> torch.Tensor:
        """The branch's norm; refuses a training BN with one value per
        channel (docs/aw.md)."""
        if norm.training and isinstance(
                norm, nn.modules.batchnorm._BatchNorm) and \
                a.shape[0] * a.shape[2] * a.shape[3] == 1:
            raise ValueError(
                f'AWConv2d: a training {type(norm).__name__} in the '
                f'attention branch sees one value per channel (input '
                f'{tuple(a.shape)}: batch 1, kernel 1x1). Use a batch > 1 or '
                f"attn_norm_cfg 'GN' or None (one of {AW_NORMS})")
        return norm(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'AWConv2d expects (N, {self.in_channels}, H, W), got '
                f'{tuple(x.shape)}')
        scale = 1.0 + self.attention(x)
        impl = self.resolve_impl(x.shape[2:], torch.is_grad_enabled() and (
            x.requires_grad or self.weight.requires_grad))
        if impl == 'gemm':
            out, dtype = aw_gemm(x, self.weight, scale, self.stride,
                                 self.padding, self.dilation,
                                 self.output_size(x.shape[2:]))
            return self._finish(out, dtype)
        if impl == 'reference':
            return self._forward_reference(x, scale)
        if impl == 'fold':
            return self._forward_fold(x, scale)
        return self._forward_taps(x, scale)

    def output_size(self, size: Sequence[int]) -> Tuple[int, int]:
        """Spatial output size for an input of spatial ``size``."""
        return tuple(
            (s + 2 * p - d * (k - 1) - 1) // st + 1 for s, p, d, k, st in zip(
                size, self.padding, self.dilation, self.kernel_size,
                self.stride))

    def resolve_impl(self, size: Sequence[int],
                     backward: bool = False) -> str:
        """The form ``forward`` uses for an input of spatial ``size``;
        ``backward``: whether a backward pass follows (``forward`` passes
        grad mode and ``requires_grad``)."""
        pointwise = self.kernel_size == (1, 1)
        # col2im needs stride 1 and padding within the dilated kernel extent
        foldable = self.stride == (1, 1) and all(
            p <= d * (k - 1) for p, d, k in zip(
                self.padding, self.dilation, self.kernel_size))
        if self.impl != 'auto':
            # 1x1 kernels are one convolution and a scale in every form but
            # 'reference'; 'fold' has no strided form.
            if self.impl == 'fold' and (pointwise or not foldable):
                return 'taps'
            return self.impl
        if pointwise:
            return 'taps'
        oh, ow = self.output_size(size)
        if gemm_fusion() == 'compile' or torch.compiler.is_compiling():
            return 'gemm' if oh * ow < AUTO_MIN_POSITIONS else 'reference'
        if oh * ow >= (AUTO_MIN_POSITIONS_TRAIN if backward else
                       AUTO_MIN_POSITIONS):
            return 'reference'
        return 'fold' if backward and foldable else 'taps'

    def _forward_reference(self, x: torch.Tensor,
                           scale: torch.Tensor) -> torch.Tensor:
        """Eq. 5 literally: per-sample kernels, one grouped convolution
        (which, as ``nn.Conv2d``, adds the bias and sets the dtype)."""
        n = x.shape[0]
        kernels = self.weight[None] * scale[:, :, None]   # N, Co, Ci, h, w
        bias = None if self.bias is None else self.bias.repeat(n)
        out = F.conv2d(x.reshape(1, n * self.in_channels, *x.shape[2:]),
                       kernels.reshape(n * self.out_channels,
                                       self.in_channels, *self.kernel_size),
                       bias, self.stride, self.padding, self.dilation,
                       groups=n)
        return out.reshape(n, self.out_channels, *out.shape[2:])

    def _finish(self, out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Add the bias to the (float32 under autocast) sum, then round it
        once to ``dtype``, the dtype of the plain convolution's output."""
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).view(1, -1, 1, 1)
        return out.to(dtype)

    def _forward_fold(self, x: torch.Tensor,
                      scale: torch.Tensor) -> torch.Tensor:
        """All taps at once, then col2im (stride 1; docs/aw.md)."""
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        taps = self.out_channels * kh * kw
        weight = self.weight.flip(2, 3).permute(0, 2, 3, 1).reshape(taps, c)
        cols = torch.mm(weight, x.transpose(0, 1).reshape(c, n * h * w))
        dtype = cols.dtype
        cols = cols.view(taps, n, h * w).to(scale.dtype) * \
            scale.flip(2, 3).reshape(n, taps).t().unsqueeze(-1)
        fold_padding = tuple(d * (k - 1) - p for d, k, p in zip(
            self.dilation, self.kernel_size, self.padding))
        out = F.fold(cols.transpose(0, 1), self.output_size((h, w)),
                     self.kernel_size, dilation=self.dilation,
                     padding=fold_padding)
        return self._finish(out, dtype)

    def _forward_taps(self, x: torch.Tensor,
                      scale: torch.Tensor) -> torch.Tensor:
        """``sum_t scale[:, :, t] * conv(x, K[:, :, t])``, tap by tap."""
        kh, kw = self.kernel_size
        if kh == kw == 1:
            out = F.conv2d(x, self.weight, None, self.stride, self.padding,
                           self.dilation)
            return self._finish(out.to(scale.dtype) * scale, out.dtype)
        (sh, sw), (ph, pw), (dh, dw) = \
            self.stride, self.padding, self.dilation
        oh, ow = self.output_size(x.shape[2:])
        xp = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
        out = None
        for i in range(kh):
            for j in range(kw):
                window = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                            j * dw:j * dw + sw * (ow - 1) + 1:sw]
                tap = F.conv2d(window, self.weight[:, :, i:i + 1, j:j + 1])
                dtype = tap.dtype
                tap = tap.to(scale.dtype)
                s = scale[:, :, i:i + 1, j:j + 1]
                out = tap * s if out is None else out.addcmul_(tap, s)
        return self._finish(out, dtype)

    def extra_repr(self) -> str:
        norm = None if self.attn_norm_cfg is None else \
            self.attn_norm_cfg['type']
        pool = '' if self._pool_impl == 'adaptive' else \
            f', pool_impl={self._pool_impl!r}'
        return (f'{super().extra_repr()}, reduction={self.reduction}, '
                f'impl={self.impl!r}, attn_norm={norm!r}{pool}')


def _check_pool_impl(value: Any) -> None:
    if value not in AW_POOL_IMPLS:
        raise ValueError(f'pool_impl must be one of {AW_POOL_IMPLS}, got '
                         f'{value!r}')
