"""CBAM (Woo et al. eqs. 1-3) and the two reduced forms AW-CBAM uses."""
import pytest
import torch

from td_plugins.models.layers import CBAM


def _n(m):
    return sum(p.numel() for p in m.parameters())


def test_forms_and_parameters():
    full = CBAM(32, reduction=8)
    maxpool = CBAM(32, reduction=8, pools=('avg', 'max'), spatial=False)
    spatial = CBAM(32, reduction=8, pools=('avg', ), spatial=True)
    mlp = 2 * 32 * 4 + 4 + 32
    assert _n(maxpool) == mlp                 # same as an SE block
    assert _n(spatial) == _n(full) == mlp + 2 * 49 + 2
    assert not hasattr(maxpool, 'spatial_conv')


def test_channel_then_spatial():
    torch.manual_seed(0)
    cbam = CBAM(8, reduction=2).eval()
    x = torch.randn(2, 8, 5, 6)
    mlp = lambda d: cbam.fc2(torch.relu(cbam.fc1(d)))  # noqa: E731
    x1 = x * torch.sigmoid(mlp(x.mean((2, 3), True)) +
                           mlp(x.amax((2, 3), True)))
    desc = torch.cat([x1.mean(1, True), x1.amax(1, True)], 1)
    expected = x1 * torch.sigmoid(cbam.spatial_bn(cbam.spatial_conv(desc)))
    torch.testing.assert_close(cbam(x), expected)


def test_every_parameter_gets_a_gradient():
    cbam = CBAM(16, reduction=4)
    cbam(torch.randn(2, 16, 6, 6)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in cbam.parameters())


@pytest.mark.parametrize('kwargs,match', [
    (dict(pools=('min', )), r"pools must be a non-empty subset"),
    (dict(pools=()), r"pools must be a non-empty subset"),
    (dict(reduction=100), r'reduction must be an integer in \[1, '),
])
def test_invalid_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CBAM(16, **kwargs)
