"""TopDownAttention (TDAM eqs. 4-8): widths, equations, options, refusals."""
import pytest
import torch

from td_plugins.models.layers import TopDownAttention


def _n(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_follow_the_official_widths():
    # spec 1.8: a ResNet-50 layer3 block, m=1: C0 = 256, CN = 1024, rd = 64.
    assert _n(TopDownAttention(256, 1024, 'joint')) == 65536 + 16384 + 32768
    assert _n(TopDownAttention(256, 1024, 'top')) == 65536 + 64 * 256
    # eq. 4's widths: the bottom branch reduces C0 / r = 16 channels.
    paper = TopDownAttention(256, 1024, 'joint', widths='paper')
    assert _n(paper) == 65536 + 256 * 16 + (64 + 16) * 256
    assert all(m.bias is None for m in paper.modules()
               if isinstance(m, torch.nn.Conv2d))


def test_channel_then_spatial_follows_eqs_6_to_8():
    torch.manual_seed(0)
    td = TopDownAttention(8, 32, 'joint', reduction=4)
    bottom, top = torch.randn(2, 8, 5, 7), torch.randn(2, 32, 3, 4)
    s = td.searchlight(bottom, top)
    assert s.shape == (2, 8, 1, 1)
    x1 = torch.sigmoid(s) * bottom                          # eq. 6
    a = (s * x1).sum(dim=1, keepdim=True)                   # eq. 7, raw S
    expected = torch.sigmoid(a) * x1                        # eq. 8
    torch.testing.assert_close(td(bottom, top), expected)


def _official_gates(order, s, bottom):
    """The official ``TD_Spotlight_Attention.static_forward`` for each
    ``operation_seq``, restated: ``compute_channel_modified`` is
    ``sigmoid(S) * x``, ``compute_spatial_modified`` is
    ``sigmoid(sum_c S_c x_c) * x``, both with the raw S."""
    def channel(x):
        return torch.sigmoid(s) * x

    def spatial(x):
        return torch.sigmoid((s * x).sum(1, keepdim=True)) * x

    return {'channel->spatial': lambda x: spatial(channel(x)),
            'spatial->channel': lambda x: channel(spatial(x)),
            'spatial': spatial, 'channel': channel}[order](bottom)


@pytest.mark.parametrize('order', ['channel->spatial', 'spatial->channel',
                                   'spatial', 'channel', 'parallel'])
def test_each_order_equals_an_independent_computation(order):
    torch.manual_seed(0)
    kwargs = dict(bottom_channels=8, top_channels=16, reduction=4)
    bottom, top = torch.randn(2, 8, 4, 5), torch.randn(2, 16, 2, 3)
    td = TopDownAttention(order=order, **kwargs)
    # S from the weights directly (eqs. 4-5, joint): W_s [relu(W_t gap(top));
    # relu(W_b gap(bottom))]
    w_t, w_b, w_s = (td.top_fc.weight.flatten(1), td.bottom_fc.weight
                     .flatten(1), td.fuse.weight.flatten(1))
    hidden = torch.cat([torch.relu(top.mean((2, 3)) @ w_t.T),
                        torch.relu(bottom.mean((2, 3)) @ w_b.T)], 1)
    s = (hidden @ w_s.T)[:, :, None, None]
    if order == 'parallel':  # this project's: both gates from X^0
        a = torch.sigmoid((s * bottom).sum(1, keepdim=True))
        expected = bottom * torch.sigmoid(s) * a
    else:
        expected = _official_gates(order, s, bottom)
    torch.testing.assert_close(td(bottom, top), expected)
    assert td.extra_repr().startswith("mode='joint', order=" + repr(order))


def test_parallel_is_the_official_spatial_then_channel():
    torch.manual_seed(1)
    par = TopDownAttention(8, 16, reduction=4, order='parallel')
    s_c = TopDownAttention(8, 16, reduction=4, order='spatial->channel')
    s_c.load_state_dict(par.state_dict())
    bottom, top = torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2)
    torch.testing.assert_close(par(bottom, top), s_c(bottom, top))
    # and the orders do differ from each other otherwise
    c_s = TopDownAttention(8, 16, reduction=4, order='channel->spatial')
    c_s.load_state_dict(par.state_dict())
    assert not torch.allclose(c_s(bottom, top), s_c(bottom, top))


def test_three_d_pools_over_time_and_space():
    td = TopDownAttention(8, 16, reduction=4, dims=3)
    out = td(torch.rand(2, 8, 3, 5, 5), torch.rand(2, 16, 3, 5, 5))
    assert out.shape == (2, 8, 3, 5, 5)


def test_spatial_sum_is_counted_as_macs():
    from torch.utils.flop_counter import FlopCounterMode
    td = TopDownAttention(16, 64, 'top')
    with FlopCounterMode(display=False) as counter:
        td(torch.rand(1, 16, 6, 6), torch.rand(1, 64, 6, 6))
    convs = 64 * 4 + 4 * 16  # two 1x1 convs on pooled 1x1 maps
    assert counter.get_total_flops() // 2 == convs + 16 * 6 * 6


@pytest.mark.parametrize('order', ['channel->spatial', 'parallel'])
def test_spatial_sum_runs_in_float32_under_autocast(order):
    """Eq. 7's sum over C in float32 (the official torch.sum under
    autocast), the output in the bottom map's dtype."""
    torch.manual_seed(0)
    td = TopDownAttention(512, 64, 'joint', reduction=4, order=order)
    bottom = (torch.randn(2, 512, 6, 6) * 0.1).bfloat16()
    top = torch.randn(2, 64, 3, 3).bfloat16()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = td(bottom, top)
        s = td.searchlight(bottom, top)
    assert s.dtype == out.dtype == torch.bfloat16
    channel = torch.sigmoid(s)
    x = bottom * channel if order == 'channel->spatial' else bottom
    # reference: the same bf16 operands, summed in float32
    logits = (s.float() * x.float()).sum(1, keepdim=True)
    gate = torch.sigmoid(logits).bfloat16()
    expected = (x * gate if order == 'channel->spatial'
                else bottom * channel * gate)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # a bf16 sum would not give it: the check can fail
    low = torch.sigmoid(torch.einsum('bc,bchw->bhw', s.flatten(1), x)
                        ).unsqueeze(1)
    assert low.dtype == torch.bfloat16 and not torch.equal(low, gate)
    # float32 inputs stay float32, float64 ones float64 (no downcast)
    for dtype in (torch.float32, torch.float64):
        td_d = td.to(dtype)
        assert td_d(bottom.to(dtype), top.to(dtype)).dtype == dtype


def test_every_parameter_gets_a_gradient():
    td = TopDownAttention(8, 32, 'joint', reduction=4)
    td(torch.randn(2, 8, 5, 5), torch.randn(2, 32, 5, 5)).square().sum() \
        .backward()
    for name, p in td.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs,match', [
    (dict(mode='both'), r"td_mode must be one of \('joint', 'top'\)"),
    (dict(order='spatial-first'),
     r"order must be one of \('channel->spatial', 'spatial->channel', "
     r"'spatial', 'channel', 'parallel'\)"),
    (dict(widths='mine'), r"widths must be one of \('code', 'paper'\)"),
    (dict(reduction=0), 'reduction must be a positive integer'),
    (dict(reduction=64), 'leaves no hidden channels'),
    (dict(dims=1), 'dims must be 2 or 3'),
])
def test_invalid_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TopDownAttention(8, 32, **kwargs)
