"""The global average of ``bn(conv1x1(x))`` in training, from x's moments.

TDAM (Jaiswal, Fernando and Tan, ECCV 2022), eqs. 4-5, read an early top
only through its global average; batch normalisation (Ioffe and Szegedy,
ICML 2015, Algorithm 1) of a 1x1 convolution ``y = W x`` has the batch mean
``W mean(x)`` and biased variance ``diag(W Cov(x) W^T)`` over (N, H, W). So
the pooled top needs the (C_in x C_in) covariance of x, not the full map.
Where this is exact and cheaper: docs/tdam.md, "Pooled early tops in
training".
"""
import torch
import torch.nn as nn

from .amp import at_least_float32, autocast_off

__all__ = ['moments_apply', 'moments_cheaper', 'pooled_conv_bn']


def moments_apply(conv: nn.Module, norm: nn.Module,
                  batch_stats: bool = True) -> bool:
    """Whether ``norm(conv(x))`` is a bias-free 1x1 conv and a batch-stat BN.

    True when ``conv`` is a plain ``nn.Conv2d`` with kernel, stride and
    dilation 1, no padding, one group and no bias, and ``norm`` a
    non-synchronised ``nn.BatchNorm2d`` that, if ``batch_stats``, normalises
    with batch statistics now (training, or without running statistics, as
    ``nn.BatchNorm2d.forward`` decides).

    Example:
        >>> conv, bn = nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8)
        >>> moments_apply(conv, bn), moments_apply(conv, bn.eval())
        (True, False)
    """
    if not (type(conv) is nn.Conv2d and conv.kernel_size == (1, 1)
            and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.padding == (0, 0) and conv.groups == 1
            and conv.bias is None):
        return False
    if not isinstance(norm, nn.BatchNorm2d) or \
            isinstance(norm, nn.SyncBatchNorm):
        return False
    return not batch_stats or norm.training or norm.running_mean is None


def moments_cheaper(x: torch.Tensor, out_channels: int) -> bool:
    """Whether the moments take fewer MACs than the conv (shapes only).

    With N images, n = N H W positions, C_in = c and C_out = o: the conv is
    ``n c o`` MACs forward and twice that backward; the moments are the
    covariance (``n c^2``, as much backward), ``W Cov`` (``o c^2``, twice
    that backward) and the per-image projection (``N c o``, twice that
    backward). Without autograd only the forward counts.

    Example:
        >>> moments_cheaper(torch.empty(8, 256, 14, 14), 1024)
        True
        >>> moments_cheaper(torch.empty(8, 512, 7, 7), 2048)
        False
    """
    n_img, c = x.shape[:2]
    n = x.numel() // c
    o = out_channels
    if torch.is_grad_enabled():
        return c * (2 * n * c + 3 * o * c + 3 * n_img * o) < 3 * n * c * o
    return c * (n * c + o * c + n_img * o) < n * c * o


def _update_running_stats(norm: nn.BatchNorm2d, mean: torch.Tensor,
                          var: torch.Tensor, count: int) -> None:
    """``norm``'s running statistics as ``nn.BatchNorm2d.forward`` sets them.

    The momentum, or 1 / num_batches_tracked when it is None (cumulative
    average); running_var takes the unbiased variance, ``var n / (n - 1)``.
    """
    if not (norm.training and norm.track_running_stats):
        return
    with torch.no_grad():
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:
            factor = 1.0 / norm.num_batches_tracked.to(mean.dtype)
        else:
            factor = norm.momentum
        unbiased = var * (count / (count - 1))
        norm.running_mean.mul_(1 - factor).add_(
            factor * mean.to(norm.running_mean.dtype))
        norm.running_var.mul_(1 - factor).add_(
            factor * unbiased.to(norm.running_var.dtype))


class _Moments(torch.autograd.Function):
    """Per-image means (N, C) and biased covariance (C, C) of x (N, C, L).

    Backward: ``dCov/dx_i = (G + G^T)(x_i - mean) / n`` (the mean's own
    term sums to zero) plus the per-image means' ``g / L``: one batched
    matrix product and one broadcast add.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        per_image = x.mean(2)
        mean = per_image.mean(0)
        xc = x - mean[:, None]
        cov = torch.bmm(xc, xc.transpose(1, 2)).sum(0) / (
            x.shape[0] * x.shape[2])
        ctx.save_for_backward(x, mean)
        return per_image, cov

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_per_image, grad_cov):
        x, mean = ctx.saved_tensors
        count = x.shape[0] * x.shape[2]
        # (autograd passes zeros for an unused output: grads materialised)
        sym = (grad_cov + grad_cov.t()) / count
        shift = grad_per_image / x.shape[2] - sym @ mean
        return torch.matmul(sym, x).add_(shift[:, :, None])


def pooled_conv_bn(x: torch.Tensor, conv: nn.Conv2d,
                   norm: nn.BatchNorm2d) -> torch.Tensor:
    """``GAP(norm(conv(x)))`` with batch statistics, from x's moments.

    Updates ``norm``'s running statistics as ``norm(conv(x))`` would. The
    moments are taken in float32 (float64 stays) with autocast off.

    Args:
        x (Tensor): (N, C_in, H, W), with N H W > 1.
        conv (nn.Conv2d): A conv for which :func:`moments_apply` holds.
        norm (nn.BatchNorm2d): Its BN, normalising with batch statistics.

    Returns:
        Tensor: (N, C_out, 1, 1), in x's dtype.

    Example:
        >>> conv, bn = nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8)
        >>> x = torch.randn(2, 4, 5, 5)
        >>> full = bn(conv(x)).mean((2, 3), keepdim=True)
        >>> torch.allclose(pooled_conv_bn(x, conv, bn), full, atol=1e-6)
        True
    """
    n_img, c = x.shape[:2]
    count = x.numel() // c
    acc = at_least_float32(x.dtype)
    with autocast_off(x):
        xa = x.to(acc).reshape(n_img, c, -1)
        w = conv.weight.to(acc).reshape(-1, c)
        per_image, cov = _Moments.apply(xa)            # (N, C), (C, C)
        mean_x = per_image.mean(0)                     # (C_in, )
        var = ((w @ cov) * w).sum(1)                   # biased, (C_out, )
        mean = w @ mean_x
        scale = torch.rsqrt(var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.to(acc)
        out = ((per_image - mean_x) @ w.t()) * scale
        if norm.bias is not None:
            out = out + norm.bias.to(acc)
    _update_running_stats(norm, mean.detach(), var.detach(), count)
    return out.to(x.dtype)[:, :, None, None]
