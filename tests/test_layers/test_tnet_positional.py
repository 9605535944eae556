"""TNetPositionalModule: the two forms of TNet's positional module (spec 4.1,
4.5)."""
import pytest
import torch
import torch.nn.functional as F

from td_plugins.models.layers import (
    TNetPositionalModule,
    sincos_position_encoding,
)


def _n(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_of_the_paper_configurations():
    assert _n(TNetPositionalModule(512, 512)) == 524_800           # ImageNet
    assert _n(TNetPositionalModule(1280, 320, 'add')) == 410_880   # fMoW/CUB


def test_concat_form_is_one_linear_layer_on_feature_and_encoding():
    torch.manual_seed(0)
    pm = TNetPositionalModule(32, 24)
    f = torch.randn(2, 3, 32)
    pos = torch.tensor([[0., 0, 0], [1, 4, 1], [3, 2, 1]]).expand(2, 3, 3)
    out = pm(f, pos)
    assert out.shape == (2, 3, 32)
    pe = sincos_position_encoding(pos, 24)
    expected = torch.cat([f, pe], -1) @ pm.fc.weight.T + pm.fc.bias
    torch.testing.assert_close(out, expected)
    assert torch.all(pm.fc.bias == 0)


def test_add_form_is_swish_of_feature_plus_projected_encoding():
    torch.manual_seed(0)
    pm = TNetPositionalModule(40, 20, 'add')
    f, pos = torch.randn(5, 40), torch.randint(0, 5, (5, 3)).float()
    expected = F.silu(f + pm.fc(sincos_position_encoding(pos, 20)))
    torch.testing.assert_close(pm(f, pos), expected)
    assert pm.fc.weight.shape == (40, 20)
    # Keras VarianceScaling(1/3, fan_out, uniform): |w| <= sqrt(1 / fan_out)
    assert pm.fc.weight.abs().max() <= (1 / 40) ** 0.5


def test_position_changes_the_output():
    pm = TNetPositionalModule(16, 16)
    f = torch.randn(1, 16)
    assert not torch.allclose(pm(f, torch.tensor([[0., 0, 0]])),
                              pm(f, torch.tensor([[1., 0, 1]])))


@pytest.mark.parametrize('variant', ['concat', 'add'])
def test_every_parameter_and_the_features_get_a_gradient(variant):
    pm = TNetPositionalModule(16, 12, variant)
    f = torch.randn(4, 16, requires_grad=True)
    pm(f, torch.rand(4, 3) * 5).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in pm.parameters())
    assert f.grad is not None and f.grad.abs().sum() > 0


@pytest.mark.parametrize('args,match', [
    ((16, 16, 'sum'), r"variant must be one of \('concat', 'add'\)"),
    ((0, 16), r'feat_dim must be a positive integer'),
    ((16, 6), r'pos_dim must be an integer >= 12'),
    ((16, 16.0), r'pos_dim must be an integer >= 12'),
])
def test_bad_arguments_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        TNetPositionalModule(*args)


def test_mismatched_inputs_are_refused():
    pm = TNetPositionalModule(16, 16)
    with pytest.raises(ValueError, match=r'features must have shape'):
        pm(torch.randn(2, 8), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r'positions must have shape'):
        pm(torch.randn(2, 16), torch.zeros(3, 3))
