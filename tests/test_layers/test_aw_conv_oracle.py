"""AWConv2d against an oracle that shares none of its code: the attention A
recomputed with plain tensor ops from the layer's parameters (eqs. 7-8:
average pooling of the input to the kernel size by explicit bins,
Pointconv1 + norm + ReLU, Pointconv2 + norm + sigmoid; eval-mode BN, GN or
no norm, so A is per sample), then one ``F.conv2d`` per sample with the
explicitly scaled kernel ``K * (1 + A)`` (eqs. 4-6). Every form
('reference', 'taps', 'fold', 'auto'), float64, outputs and gradients with
respect to the input, the weight and the attention's first pointconv.
(Grouped AW-convolutions are refused by the layer, so there is no groups
case.)"""
import math
from typing import Optional, Tuple

import pytest
import torch
import torch.nn.functional as F

from td_plugins.models.layers.aw_conv import AW_IMPLS, AWConv2d

C_IN, C_OUT, REDUCTION, BATCH = 5, 8, 4, 3
# kernel, padding, dilation, input size (odd sizes; 23 x 21 is >= 400
# output positions at stride 1, so 'auto' takes both of its branches)
CASES = {
    'k3': (3, 1, 1, (11, 9)),
    'k3_nopad': (3, 0, 1, (9, 7)),
    'k3x5_large': ((3, 5), (1, 2), 1, (23, 21)),
    'k3_dil2': (3, 2, 2, (13, 15)),
    'k1': (1, 0, 1, (7, 9)),
}
NORMS = {
    'bn_eval': 'BN',
    'gn1': dict(type='GN', num_groups=1),
    'gn2': dict(type='GN', num_groups=2),
    'none': None,
}


def _pair(v) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def oracle_pool(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Adaptive average pooling by its definition: bin i of n over length L
    is [floor(i L / n), ceil((i + 1) L / n))."""
    n, c, h, w = x.shape
    out = x.new_empty(n, c, *size)
    for i in range(size[0]):
        y0, y1 = (i * h) // size[0], math.ceil((i + 1) * h / size[0])
        for j in range(size[1]):
            x0, x1 = (j * w) // size[1], math.ceil((j + 1) * w / size[1])
            out[:, :, i, j] = x[:, :, y0:y1, x0:x1].mean(dim=(2, 3))
    return out


def oracle_norm(a: torch.Tensor, norm: torch.nn.Module,
                kind: Optional[str]) -> torch.Tensor:
    """Eval BN from its running statistics, GN per sample and group, or
    nothing, written out."""
    if kind is None:
        return a
    shape = (1, -1, 1, 1)
    if kind == 'BN':
        std = (norm.running_var + norm.eps).sqrt()
        a = (a - norm.running_mean.view(shape)) / std.view(shape)
    else:
        n, c = a.shape[:2]
        g = a.reshape(n, norm.num_groups, -1)
        mu = g.mean(-1, keepdim=True)
        var = ((g - mu) ** 2).mean(-1, keepdim=True)   # biased, as GN
        a = ((g - mu) / (var + norm.eps).sqrt()).reshape(a.shape)
    return a * norm.weight.view(shape) + norm.bias.view(shape)


def oracle_attention(conv: AWConv2d, x: torch.Tensor) -> torch.Tensor:
    """A, shape (N, C_out, h, w), from the layer's parameters."""
    kind = None if conv.attn_norm_cfg is None else conv.attn_norm_cfg['type']
    a0 = oracle_pool(x, conv.kernel_size)
    w1 = conv.attn_conv1.weight[:, :, 0, 0]
    a1 = torch.einsum('oc,nchw->nohw', w1, a0)
    if conv.attn_conv1.bias is not None:
        a1 = a1 + conv.attn_conv1.bias.view(1, -1, 1, 1)
    a1 = oracle_norm(a1, conv.attn_bn1, kind).clamp_min(0)
    w2 = conv.attn_conv2.weight[:, :, 0, 0]
    a2 = torch.einsum('oc,nchw->nohw', w2, a1)
    if conv.attn_conv2.bias is not None:
        a2 = a2 + conv.attn_conv2.bias.view(1, -1, 1, 1)
    a2 = oracle_norm(a2, conv.attn_bn2, kind)
    return 1.0 / (1.0 + torch.exp(-a2))


def oracle_forward(conv: AWConv2d, x: torch.Tensor) -> torch.Tensor:
    """One plain convolution per sample with the kernel K * (1 + A_n),
    A_n expanded over the input channels."""
    a = oracle_attention(conv, x)
    outs = []
    for n in range(x.shape[0]):
        kernel = conv.weight * (1.0 + a[n])[:, None]
        outs.append(F.conv2d(x[n:n + 1], kernel, conv.bias, conv.stride,
                             conv.padding, conv.dilation))
    return torch.cat(outs)


def make_conv(case: str, norm: str, stride: int, bias: bool,
              impl: str) -> AWConv2d:
    kernel, padding, dilation, _ = CASES[case]
    torch.manual_seed(0)
    conv = AWConv2d(C_IN, C_OUT, kernel, stride=stride, padding=padding,
                    dilation=dilation, bias=bias, reduction=REDUCTION,
                    impl=impl, attn_norm_cfg=NORMS[norm]).double()
    with torch.no_grad():   # nothing at its default: statistics, affines
        for m in (conv.attn_bn1, conv.attn_bn2):
            for name in ('weight', 'bias'):
                if getattr(m, name, None) is not None:
                    getattr(m, name).normal_(0.5, 0.5)
            if hasattr(m, 'running_mean'):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        for m in (conv.attn_conv1, conv.attn_conv2):
            if m.bias is not None:
                m.bias.normal_(0, 0.5)
        if conv.bias is not None:
            conv.bias.normal_()
    return conv.eval()


def compare(conv: AWConv2d, case: str) -> dict:
    """Largest differences layer vs oracle (absolute, relative to the
    oracle's largest value where that exceeds 1): output, d/dx, d/dK,
    d/d(Pointconv1)."""
    torch.manual_seed(1)
    x = torch.randn(BATCH, C_IN, *CASES[case][3], dtype=torch.float64)
    results = []
    for fn in (conv, lambda t: oracle_forward(conv, t)):
        conv.zero_grad()
        xi = x.clone().requires_grad_()
        out = fn(xi)
        torch.manual_seed(2)
        probe = torch.randn_like(out)
        (out * probe).sum().backward()
        results.append((out.detach(), xi.grad, conv.weight.grad.clone(),
                        conv.attn_conv1.weight.grad.clone()))
    layer, oracle = results
    names = ('out', 'grad_x', 'grad_weight', 'grad_attn_conv1')
    for name, got, want in zip(names, layer, oracle):
        assert got.shape == want.shape, name
    return {name: (got - want).abs().max().item() / max(
        1.0, want.abs().max().item())
        for name, got, want in zip(names, layer, oracle)}


@pytest.mark.parametrize('bias', [True, False], ids=['bias', 'nobias'])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('norm', sorted(NORMS))
@pytest.mark.parametrize('case', sorted(CASES))
@pytest.mark.parametrize('impl', AW_IMPLS)
def test_every_form_equals_the_per_sample_conv2d_oracle(impl, case, norm,
                                                        stride, bias):
    conv = make_conv(case, norm, stride, bias, impl)
    diffs = compare(conv, case)
    assert max(diffs.values()) < 1e-10, diffs


def test_oracle_sees_the_attention():
    """The oracle is not the plain convolution: without the (1 + A) factor
    it would disagree with the layer far above the tolerance."""
    conv = make_conv('k3', 'gn1', 1, True, 'taps')
    x = torch.randn(BATCH, C_IN, *CASES['k3'][3], dtype=torch.float64)
    with torch.no_grad():
        plain = F.conv2d(x, conv.weight, conv.bias, conv.stride,
                         conv.padding, conv.dilation)
        out = conv(x)
        a = oracle_attention(conv, x)
        assert (out - plain).abs().max() > 1e-2
        assert torch.allclose(out, oracle_forward(conv, x), atol=1e-12)
        # A differs between samples, taps and output channels
        assert a.std(0).min() > 0 and a.flatten(2).std(2).min() > 0


def test_oracle_pool_equals_adaptive_pooling_by_definition():
    x = torch.arange(2 * 3 * 7 * 5, dtype=torch.float64).reshape(2, 3, 7, 5)
    pooled = oracle_pool(x, (3, 3))
    # bins over 7 rows: [0, 3), [2, 5), [4, 7); over 5 columns: [0, 2),
    # [1, 4), [3, 5)
    assert pooled[1, 2, 1, 2] == x[1, 2, 2:5, 3:5].mean()
    assert pooled[0, 0, 0, 0] == x[0, 0, 0:3, 0:2].mean()


@pytest.mark.parametrize('stride', [1, 2])
def test_training_forms_agree_with_the_oracle_under_gn(stride):
    """In training mode GN is still per sample: the same oracle holds."""
    for impl in AW_IMPLS:
        conv = make_conv('k3', 'gn1', stride, True, impl).train()
        diffs = compare(conv, 'k3')
        assert max(diffs.values()) < 1e-10, (impl, diffs)
