"""AW-convolution: a convolution whose weights carry per-sample attention.

Zhu, Hofstee, Lee and Al-Ars, "An Attention Module for Convolutional Neural
Networks" (ICANN 2021), section 3: attention maps ``A`` shaped like the
weights ``K`` (eq. 4), attentional weights ``AK = K + A * K`` (eq. 6) and the
output ``O = Conv(I, AK)`` per sample (eq. 5). The attention branch (eqs. 7-8,
Fig. 1b) as ``shared/spec/methods.md`` section 3.2 reads it, with the paper's
setting r_C1 = C1, r_C2 = r_hw = 1, r = 16:

* ``A0 = AdaptiveAvgPool(I)`` to the kernel's spatial size (h, w);
* ``A1 = ReLU(BN(Pointconv1(A0)))``, 1x1, C_in -> C_out / r, no bias;
* ``A2 = Sigmoid(BN(Pointconv2(A1)))``, 1x1, C_out / r -> C_out, no bias;
* ``A = Expand(A2)`` over the input channels: one map per (output channel,
  kernel tap), shared by every input channel.

Because the attention does not depend on the input channel, the output splits
by kernel tap t = (i, j):
``O[n, o] = sum_t (1 + A2[n, o, t]) * P_t[n, o]`` with ``P_t`` the plain
convolution of the input with the single tap ``K[:, :, i, j]``. The module
can compute that (``impl='taps'``; a 1x1 kernel is then just a per-sample,
per-output-channel scale of the plain convolution) without ever forming the
per-sample kernels ``AK``. ``impl='fold'`` computes the same sum with one
matrix product for all taps at every input position followed by a col2im
(``F.fold``) that adds each tap's shifted, scaled map into the output (stride
1 only; it needs the 9x larger intermediate but neither per-sample kernels nor
nine sliced copies of the input). ``impl='reference'`` forms the per-sample
kernels and runs one grouped convolution with groups = batch size (the usual
dynamic-convolution form); the tests check that all forms agree. On the CPU
none is uniformly faster (``benchmarks/bench_aw_conv.py``): per-sample
kernels win on large maps, where building them is a small part of the work,
and lose badly on small maps with many channels, where the kernels outweigh
the activations; ``impl='auto'`` (default) picks between those two by the
output size.
"""
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['AWConv2d', 'AW_IMPLS', 'AUTO_MIN_POSITIONS']

AW_IMPLS = ('auto', 'taps', 'fold', 'reference')
# 'auto' uses the per-sample kernels when each kernel serves at least this
# many output positions (their construction is then a small part of the
# work; measured with benchmarks/bench_aw_conv.py), the taps otherwise.
# 'fold' is never picked: on this CPU it beat the taps only in training at
# 7x7 (benchmarks/results/aw_conv.md) and lost at the network level
# (benchmarks/results/aw.md).
AUTO_MIN_POSITIONS = 400
_Pair = Union[int, Tuple[int, int]]


def _pair(value: _Pair, name: str) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f'{name} must be an int or a pair of ints, got '
                         f'{value!r}')
    return pair


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
        impl (str): ``'auto'`` (default: ``'reference'`` when the output
            has at least ``AUTO_MIN_POSITIONS`` positions per sample and the
            kernel is larger than 1x1, else ``'taps'``), ``'taps'`` (per-tap
            decomposition, no per-sample kernels), ``'fold'`` (all taps in
            one matrix product, then col2im; stride 1 only, strided
            convolutions use ``'taps'``) or ``'reference'`` (per-sample
            kernels, one grouped convolution).

    The main weight and bias keep ``nn.Conv2d``'s names (``weight``,
    ``bias``); the attention branch is ``attn_conv1``, ``attn_bn1``,
    ``attn_conv2``, ``attn_bn2``.

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
                 reduction: int = 16, impl: str = 'auto') -> None:
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
        if reduction > out_channels:
            raise ValueError(
                f'reduction ({reduction}) must not exceed out_channels '
                f'({out_channels}): the attention would have no hidden '
                f'channels')
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
        self.attn_conv1 = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.attn_bn1 = nn.BatchNorm2d(hidden)
        self.attn_conv2 = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.attn_bn2 = nn.BatchNorm2d(out_channels)
        for conv in (self.attn_conv1, self.attn_conv2):
            nn.init.kaiming_normal_(conv.weight, mode='fan_out',
                                    nonlinearity='relu')

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """A2 (eqs. 7-8), shape ``(N, C_out, h, w)``: one value per sample,
        output channel and kernel tap."""
        a = F.relu(self._norm(self.attn_bn1, self.attn_conv1(self._pool(x))))
        return torch.sigmoid(self._norm(self.attn_bn2, self.attn_conv2(a)))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """A0: average pooling of the input to the kernel's size."""
        return F.adaptive_avg_pool2d(x, self.kernel_size)

    @staticmethod
    def _norm(bn: nn.BatchNorm2d, a: torch.Tensor) -> torch.Tensor:
        """The branch's BN; with a single value per channel (batch 1 and a
        1x1 kernel, e.g. an FPN lateral conv) batch statistics do not exist,
        so that call normalises with the running statistics instead."""
        if bn.training and a.shape[0] * a.shape[2] * a.shape[3] == 1:
            return F.batch_norm(a, bn.running_mean, bn.running_var,
                                bn.weight, bn.bias, False, 0.0, bn.eps)
        return bn(a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'AWConv2d expects (N, {self.in_channels}, H, W), got '
                f'{tuple(x.shape)}')
        scale = 1.0 + self.attention(x)
        impl = self.resolve_impl(x.shape[2:])
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

    def resolve_impl(self, size: Sequence[int]) -> str:
        """The form ``forward`` uses for an input of spatial ``size``."""
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
        return 'reference' if oh * ow >= AUTO_MIN_POSITIONS else 'taps'

    def _forward_reference(self, x: torch.Tensor,
                           scale: torch.Tensor) -> torch.Tensor:
        """Eq. 5 literally: per-sample kernels, one grouped convolution."""
        n = x.shape[0]
        kernels = self.weight[None] * scale[:, :, None]   # N, Co, Ci, h, w
        out = F.conv2d(x.reshape(1, n * self.in_channels, *x.shape[2:]),
                       kernels.reshape(n * self.out_channels,
                                       self.in_channels, *self.kernel_size),
                       None, self.stride, self.padding, self.dilation,
                       groups=n)
        out = out.reshape(n, self.out_channels, *out.shape[2:])
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out

    def _forward_fold(self, x: torch.Tensor,
                      scale: torch.Tensor) -> torch.Tensor:
        """All taps at once, then col2im (stride 1).

        ``O[y] = sum_t s_t P_t[y - p + t d]`` with ``P_t = K_t x`` at every
        input position. ``F.fold`` adds block ``t''`` of column ``y'`` into
        ``y' - p' + t'' d``; with ``p' = d (k - 1) - p`` and the taps (and
        scales) flipped, ``t'' = k - 1 - t``, that is exactly the sum above.
        """
        n, c, h, w = x.shape
        kh, kw = self.kernel_size
        taps = self.out_channels * kh * kw
        weight = self.weight.flip(2, 3).permute(0, 2, 3, 1).reshape(taps, c)
        cols = torch.mm(weight, x.transpose(0, 1).reshape(c, n * h * w))
        cols = cols.view(taps, n, h * w) * \
            scale.flip(2, 3).reshape(n, taps).t().unsqueeze(-1)
        fold_padding = tuple(d * (k - 1) - p for d, k, p in zip(
            self.dilation, self.kernel_size, self.padding))
        out = F.fold(cols.transpose(0, 1), self.output_size((h, w)),
                     self.kernel_size, dilation=self.dilation,
                     padding=fold_padding)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out

    def _forward_taps(self, x: torch.Tensor,
                      scale: torch.Tensor) -> torch.Tensor:
        """``sum_t scale[:, :, t] * conv(x, K[:, :, t])``, tap by tap."""
        kh, kw = self.kernel_size
        if kh == kw == 1:
            out = F.conv2d(x, self.weight, None, self.stride, self.padding,
                           self.dilation)
            out = out * scale
        else:
            (sh, sw), (ph, pw), (dh, dw) = \
                self.stride, self.padding, self.dilation
            oh, ow = self.output_size(x.shape[2:])
            xp = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
            out = None
            for i in range(kh):
                for j in range(kw):
                    window = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                j * dw:j * dw + sw * (ow - 1) + 1:sw]
                    tap = F.conv2d(window, self.weight[:, :, i:i + 1,
                                                       j:j + 1])
                    s = scale[:, :, i:i + 1, j:j + 1]
                    out = tap * s if out is None else out.addcmul_(tap, s)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, reduction={self.reduction}, '
                f'impl={self.impl!r}')
