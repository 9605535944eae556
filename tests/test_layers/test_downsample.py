"""DownsampleFunction (TDAF's DSF)."""
import pytest
import torch

from td_plugins.models.layers import DownsampleFunction


@pytest.mark.parametrize('mode', ['avg_pool', 'linear'])
@pytest.mark.parametrize('dims,shape,expected', [
    (2, (2, 3, 64, 48), (2, 3, 32, 24)),
    (2, (1, 4, 7, 9), (1, 4, 4, 5)),
    (3, (1, 2, 16, 32, 32), (1, 2, 8, 16, 16)),
    (3, (1, 2, 5, 9, 8), (1, 2, 3, 5, 4)),
])
def test_output_shape_rounds_up(mode, dims, shape, expected):
    dsf = DownsampleFunction(dims=dims, mode=mode)
    out = dsf(torch.rand(shape))
    assert tuple(out.shape) == expected
    assert dsf.output_size(shape[2:]) == expected[2:]


def test_avg_pool_averages_blocks_and_ignores_padding():
    x = torch.arange(16.).view(1, 1, 4, 4)
    out = DownsampleFunction()(x)
    assert torch.equal(out, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    # Odd edge: the last column is averaged over real pixels only.
    x = torch.ones(1, 1, 3, 3)
    assert torch.equal(DownsampleFunction()(x), torch.ones(1, 1, 2, 2))


def test_3d_halves_time_too():
    x = torch.zeros(1, 1, 4, 2, 2)
    x[:, :, 2:] = 1.0
    out = DownsampleFunction(dims=3)(x)
    assert out.flatten().tolist() == [0.0, 1.0]


def test_linear_preserves_constants_and_gradients_flow():
    x = torch.full((1, 2, 10, 10), 3.0, requires_grad=True)
    out = DownsampleFunction(mode='linear')(x)
    assert torch.allclose(out, torch.full_like(out, 3.0))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_stride_one_is_identity_and_larger_strides_work():
    x = torch.rand(1, 1, 8, 8)
    assert DownsampleFunction(stride=1)(x) is x
    assert DownsampleFunction(stride=4)(x).shape[-2:] == (2, 2)


@pytest.mark.parametrize('kwargs,match', [
    (dict(dims=1), 'dims must be 2 or 3'),
    (dict(mode='max'), r"mode must be one of \('avg_pool', 'linear'\)"),
    (dict(stride=0), 'stride must be an integer >= 1'),
    (dict(stride=1.5), 'stride must be an integer >= 1'),
])
def test_invalid_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DownsampleFunction(**kwargs)


def test_wrong_input_rank_names_the_expectation():
    with pytest.raises(ValueError, match='expects a 5-D input'):
        DownsampleFunction(dims=3)(torch.rand(1, 3, 8, 8))


def test_has_no_parameters():
    assert list(DownsampleFunction().parameters()) == []
