"""channel_spatial_gate (TDAM eqs. 6-8 in one autograd node): exactness in
float64, where it applies, and that TopDownAttention trains through it."""
import pytest
import torch

from td_plugins.models.layers import TopDownAttention
from td_plugins.models.layers.tdam_gate import (
    channel_spatial_gate,
    fused_gate_applies,
)


def _plain(x, s):
    """Eqs. 6-8 as plain autograd expressions (the independent oracle)."""
    c = torch.sigmoid(s)
    xc = c * x
    return torch.sigmoid((s * xc).sum(1, keepdim=True)) * xc


@pytest.mark.parametrize('shape', [(3, 5, 7, 9), (2, 4, 3, 5, 7), (2, 3, 1)])
def test_outputs_and_gradients_equal_the_plain_expression(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    s = torch.randn(*shape[:2], *[1] * (len(shape) - 2),
                    dtype=torch.float64, requires_grad=True)
    fused, plain = channel_spatial_gate(x, s), _plain(x, s)
    assert fused.grad_fn.next_functions[0][0].name() == \
        '_ChannelSpatialGateBackward'
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-13)
    dy = torch.randn_like(plain)
    for a, b in zip(torch.autograd.grad(fused, (x, s), dy),
                    torch.autograd.grad(plain, (x, s), dy)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def test_gradcheck():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(channel_spatial_gate, (x, s))


def test_where_it_applies():
    x = torch.randn(2, 4, 3, 3, requires_grad=True)
    s = torch.randn(2, 4, 1, 1)
    assert fused_gate_applies(x, s)
    with torch.no_grad():
        assert not fused_gate_applies(x, s)             # inference
    assert not fused_gate_applies(x.detach(), s)        # nothing to train
    assert not fused_gate_applies(x.bfloat16(), s)      # autocast dtypes
    assert not fused_gate_applies(
        x.detach().to(memory_format=torch.channels_last).requires_grad_(),
        s)


def test_attention_trains_through_it_and_infers_without_it():
    torch.manual_seed(0)
    td = TopDownAttention(8, 16, reduction=4).double()
    bottom = torch.randn(2, 8, 5, 7, dtype=torch.float64, requires_grad=True)
    top = torch.randn(2, 16, 3, 3, dtype=torch.float64)
    out = td(bottom, top)
    assert out.grad_fn.next_functions[0][0].name() == \
        '_ChannelSpatialGateBackward'
    expected = _plain(bottom, td.searchlight(bottom, top))
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-13)
    out.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in td.named_parameters()}
    assert all(g.abs().sum() > 0 for g in grads.values())
    td.zero_grad()
    _plain(bottom, td.searchlight(bottom, top)).square().sum().backward()
    for n, p in td.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-11, atol=1e-12)
    with torch.no_grad():
        plain = td(bottom, top)
    assert plain.grad_fn is None
    torch.testing.assert_close(plain, expected.detach(), rtol=1e-12,
                               atol=1e-13)


def test_searchlight_is_the_1x1_convolutions():
    """The fcs run as matrix products; S equals the modules' convolutions."""
    torch.manual_seed(0)
    for dims, mode in ((2, 'joint'), (3, 'top')):
        td = TopDownAttention(8, 16, mode=mode, reduction=4, dims=dims)
        td = td.double()
        size = (3, 4) if dims == 2 else (2, 3, 4)
        bottom = torch.randn(2, 8, *size, dtype=torch.float64)
        top = torch.randn(2, 16, *size, dtype=torch.float64)
        gap = tuple(range(2, 2 + dims))
        hidden = torch.relu(td.top_fc(top.mean(gap, keepdim=True)))
        if mode == 'joint':
            hidden = torch.cat([hidden, torch.relu(td.bottom_fc(
                bottom.mean(gap, keepdim=True)))], dim=1)
        torch.testing.assert_close(td.searchlight(bottom, top),
                                   td.fuse(hidden), rtol=1e-12, atol=1e-13)
