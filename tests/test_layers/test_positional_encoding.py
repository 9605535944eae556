"""sincos_position_encoding: TNet's (y, x, s) encoding (spec 4.1)."""
import math

import numpy as np
import pytest
import torch

from td_plugins.models.layers import sincos_position_encoding
from td_plugins.models.layers.tnet_positional_encoding import (
    sincos_frequencies,
)


def _numpy_reference(pos, dim, min_inv=1.0, max_inv=100.0):
    """Direct element-by-element form of the spec's formula."""
    k_num = dim // 6
    out = np.zeros((len(pos), dim))
    for r, triplet in enumerate(pos):
        for axis in range(3):
            for k in range(k_num):
                w = (1.0 / min_inv) * (min_inv / max_inv) ** (k / (k_num - 1))
                out[r, axis * 2 * k_num + k] = math.sin(triplet[axis] * w)
                out[r, axis * 2 * k_num + k_num + k] = math.cos(
                    triplet[axis] * w)
    return out


@pytest.mark.parametrize('dim,k_num', [(512, 85), (320, 53), (14, 2)])
def test_matches_a_direct_numpy_computation(dim, k_num):
    pos = [(0, 0, 0), (3, 4, 1), (17, 2, 2), (0.5, 24, 1)]
    pe = sincos_position_encoding(torch.tensor(pos, dtype=torch.float64),
                                  dim)
    assert pe.shape == (4, dim) and pe.dtype == torch.float64
    np.testing.assert_allclose(pe.numpy(), _numpy_reference(pos, dim),
                               rtol=0, atol=1e-6)
    assert dim // 6 == k_num
    assert torch.all(pe[:, 6 * k_num:] == 0)


def test_frequency_range_and_custom_bounds():
    w = sincos_frequencies(512)
    assert w.shape == (85, )
    torch.testing.assert_close(w[[0, -1]], torch.tensor([1.0, 0.01]))
    assert torch.all(w[1:] < w[:-1])
    w = sincos_frequencies(60, min_inv_freq=2.0, max_inv_freq=1e4)
    torch.testing.assert_close(w[[0, -1]], torch.tensor([0.5, 1e-4]))
    pos = [(1, 2, 3), (9, 0, 1)]
    pe = sincos_position_encoding(torch.tensor(pos, dtype=torch.float64), 60,
                                  2.0, 1e4)
    np.testing.assert_allclose(pe.numpy(),
                               _numpy_reference(pos, 60, 2.0, 1e4),
                               atol=1e-6)


def test_level_one_position_and_leading_dims():
    pos = torch.zeros(2, 5, 3)
    pe = sincos_position_encoding(pos, 320)
    assert pe.shape == (2, 5, 320)
    k = 53
    for axis in range(3):                 # sin(0) = 0, cos(0) = 1
        assert torch.all(pe[..., 2 * k * axis:2 * k * axis + k] == 0)
        assert torch.all(pe[..., 2 * k * axis + k:2 * k * (axis + 1)] == 1)
    ints = sincos_position_encoding(torch.tensor([[3, 4, 1]]), 512)
    assert ints.dtype == torch.float32
    torch.testing.assert_close(
        ints, sincos_position_encoding(torch.tensor([[3., 4., 1.]]), 512))


@pytest.mark.parametrize('kwargs,match', [
    (dict(dim=11), r'dim must be an integer >= 12'),
    (dict(dim=64.0), r'dim must be an integer >= 12'),
    (dict(min_inv_freq=0.0), r'min_inv_freq must be a positive finite'),
    (dict(max_inv_freq=-1.0), r'max_inv_freq must be a positive finite'),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = dict(dim=64)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sincos_position_encoding(torch.zeros(2, 3), **args)


def test_positions_must_be_triplets():
    with pytest.raises(ValueError, match=r'pos must have shape \[\.\.\., 3\]'):
        sincos_position_encoding(torch.zeros(2, 2), 64)
