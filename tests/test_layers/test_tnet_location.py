"""TNetLocationModule: TNet's location module, ImageNet ('context') and
fMoW/CUB ('se') forms (spec 4.1, 4.5, 4.6)."""
import pytest
import torch
import torch.nn.functional as F

from td_plugins.models.layers import TNetLocationModule


def _n(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_of_the_paper_configurations():
    imagenet = TNetLocationModule(1024, 'context', context_dim=512)
    assert imagenet.conv.in_channels == 1538
    assert imagenet.conv.out_channels == 512
    assert _n(imagenet) == 788_485
    assert _n(TNetLocationModule(80, 'se')) == 19_725


@pytest.mark.parametrize('variant,kwargs', [
    ('context', dict(context_dim=12)), ('se', dict())])
def test_probabilities_sum_to_one_and_logits_have_unit_norm(variant, kwargs):
    torch.manual_seed(0)
    loc = TNetLocationModule(16, variant, **kwargs)
    grid = torch.randn(3, 16, 5, 5)
    ctx = torch.randn(3, 12) if variant == 'context' else None
    logits, probs = loc.logits(grid, ctx), loc(grid, ctx)
    assert logits.shape == probs.shape == (3, 25)
    torch.testing.assert_close(logits.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    torch.testing.assert_close(probs, torch.softmax(logits, -1))
    # L2-normalised logits bound the probability ratio by e^2 (spec 4.6)
    assert (probs.amax(-1) / probs.amin(-1)).max() <= torch.e ** 2 + 1e-4


def _cell_by_cell_context(loc, grid, ctx):
    """The ImageNet form evaluated one cell at a time, row-major."""
    n = grid.shape[-1]
    lin = torch.linspace(-1, 1, n)
    hs, ws = loc.meshgrid.height_scaling, loc.meshgrid.width_scaling
    w1 = loc.conv.weight.flatten(1)
    w2 = loc.output_linear.weight.flatten(1)
    out = torch.empty(grid.shape[0], n * n)
    for i in range(n):
        for j in range(n):
            y = hs.weight[0, 0] * lin[i] + hs.bias[0]
            x = ws.weight[0, 0] * lin[j] + ws.bias[0]
            v = torch.cat([grid[:, :, i, j], ctx,
                           y.expand(grid.shape[0], 1),
                           x.expand(grid.shape[0], 1)], 1)
            h = F.leaky_relu(v @ w1.T + loc.conv.bias, 0.2)
            out[:, i * n + j] = (h @ w2.T + loc.output_linear.bias)[:, 0]
    return out / out.norm(dim=-1, keepdim=True)


def test_context_form_matches_a_cell_by_cell_computation():
    torch.manual_seed(0)
    loc = TNetLocationModule(6, 'context', context_dim=4, hidden_channels=8)
    with torch.no_grad():   # make the two coordinate channels distinct
        loc.meshgrid.height_scaling.weight.fill_(1.5)
        loc.meshgrid.width_scaling.bias.fill_(-0.3)
        loc.conv.bias.normal_()
    grid, ctx = torch.randn(2, 6, 4, 4), torch.randn(2, 4)
    torch.testing.assert_close(loc.logits(grid, ctx),
                               _cell_by_cell_context(loc, grid, ctx))


def test_se_form_matches_a_direct_computation():
    torch.manual_seed(0)
    loc = TNetLocationModule(8, 'se')
    assert loc.se_conv1.out_channels == 4
    grid = torch.randn(2, 8, 3, 3)
    x = F.silu(loc.init_conv(grid))
    gate = torch.sigmoid(loc.se_conv2(F.silu(loc.se_conv1(
        x.mean((2, 3), keepdim=True)))))
    x = x * gate
    lin = torch.linspace(-1, 1, 3)
    ys = (loc.meshgrid.height_scaling(lin[:, None])).view(1, 1, 3, 1)
    xs = (loc.meshgrid.width_scaling(lin[:, None])).view(1, 1, 1, 3)
    x = torch.cat([x, ys.expand(2, 1, 3, 3), xs.expand(2, 1, 3, 3)], 1)
    logits = loc.output_linear(F.silu(loc.final_conv(x))).flatten(1)
    torch.testing.assert_close(loc.logits(grid), F.normalize(logits, dim=-1))
    # 'se' has no context input; one given is ignored
    torch.testing.assert_close(loc(grid, torch.randn(2, 5)), loc(grid))


def test_meshgrid_starts_as_plain_coordinates():
    loc = TNetLocationModule(4, 'se')
    out = loc.meshgrid(torch.zeros(1, 4, 3, 5))
    assert out.shape == (1, 6, 3, 5)
    torch.testing.assert_close(out[0, 4, :, 0], torch.linspace(-1, 1, 3))
    torch.testing.assert_close(out[0, 5, 0, :], torch.linspace(-1, 1, 5))
    assert torch.all(out[0, 4] == out[0, 4, :, :1])  # y constant along x


def test_zero_logits_give_a_uniform_distribution():
    loc = TNetLocationModule(4, 'context', context_dim=2)
    with torch.no_grad():
        loc.output_linear.weight.zero_()
        loc.output_linear.bias.zero_()
    probs = loc(torch.randn(2, 4, 5, 5), torch.randn(2, 2))
    torch.testing.assert_close(probs, torch.full((2, 25), 1 / 25))


@pytest.mark.parametrize('variant,kwargs', [
    ('context', dict(context_dim=6)), ('se', dict())])
def test_detached_inputs_get_no_gradient(variant, kwargs):
    grid = torch.randn(2, 8, 5, 5, requires_grad=True)
    ctx = torch.randn(2, 6, requires_grad=True)
    loc = TNetLocationModule(8, variant, **kwargs)
    torch.log(loc(grid, ctx)[:, 3]).sum().backward()
    assert grid.grad is None and ctx.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in loc.parameters())

    loc = TNetLocationModule(8, variant, detach_inputs=False, **kwargs)
    torch.log(loc(grid, ctx)[:, 3]).sum().backward()
    assert grid.grad is not None and grid.grad.abs().sum() > 0
    if variant == 'context':
        assert ctx.grad is not None and ctx.grad.abs().sum() > 0


@pytest.mark.parametrize('args,kwargs,match', [
    ((8, 'gap'), {}, r"variant must be one of \('context', 'se'\)"),
    ((8, 'context'), {}, r'context_dim must be an integer >= 1'),
    ((8, 'context'), dict(context_dim=-2), r'context_dim must be an integer'),
    ((8, 'se'), dict(context_dim=4), r"context_dim must be 0 for variant "),
    ((1, 'se'), {}, r'in_channels must be an integer >= 2'),
    ((0, 'context'), dict(context_dim=4), r'in_channels must be an integer'),
    ((8, 'context'), dict(context_dim=4, hidden_channels=0),
     r'hidden_channels must be an integer >= 1'),
    ((8, 'se'), dict(detach_inputs=1), r'detach_inputs must be True or'),
])
def test_bad_arguments_are_refused(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        TNetLocationModule(*args, **kwargs)


def test_bad_inputs_are_refused_at_forward():
    loc = TNetLocationModule(8, 'context', context_dim=4)
    ctx = torch.randn(2, 4)
    with pytest.raises(ValueError, match=r'grid must be a square \[B, 8, n'):
        loc(torch.randn(2, 8, 5, 4), ctx)
    with pytest.raises(ValueError, match=r'grid must be a square \[B, 8, n'):
        loc(torch.randn(2, 7, 5, 5), ctx)
    with pytest.raises(ValueError, match=r'grid must be a square'):
        loc(torch.randn(8, 5, 5), ctx)
    with pytest.raises(ValueError, match=r"'context' needs a context"):
        loc(torch.randn(2, 8, 5, 5))
    with pytest.raises(ValueError, match=r'context must have shape \[2, 4\]'):
        loc(torch.randn(2, 8, 5, 5), torch.randn(2, 5))
