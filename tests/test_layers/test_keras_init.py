"""Keras VarianceScaling initialisers used by the TNet modules."""
import math

import pytest
import torch

from td_plugins.models.layers import glorot_normal_, variance_scaling_


def test_glorot_normal_is_a_two_sigma_truncated_normal():
    torch.manual_seed(0)
    w = glorot_normal_(torch.empty(256, 128, 3, 3))
    fan_in, fan_out = 128 * 9, 256 * 9
    target = math.sqrt(2.0 / (fan_in + fan_out))
    assert abs(w.std().item() / target - 1) < 0.02
    assert w.abs().max() <= 2 * target / 0.87962566103423978 + 1e-7


def test_fan_out_modes_and_uniform():
    torch.manual_seed(0)
    w = variance_scaling_(torch.empty(512, 256), 2.0, 'fan_out',
                          'truncated_normal')
    assert abs(w.var().item() * 512 / 2.0 - 1) < 0.03
    w = variance_scaling_(torch.empty(300, 200), 1 / 3, 'fan_out', 'uniform')
    assert w.abs().max() <= math.sqrt(1 / 300)
    assert w.abs().max() > 0.95 * math.sqrt(1 / 300)
    w = variance_scaling_(torch.empty(400, 100), 1.0, 'fan_in', 'normal')
    assert abs(w.std().item() * 10 - 1) < 0.03


@pytest.mark.parametrize('kwargs,match', [
    (dict(mode='avg'), r"mode must be one of \('fan_in', 'fan_out'"),
    (dict(distribution='laplace'), r"distribution must be one of"),
    (dict(scale=0.0), r'scale must be positive'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        variance_scaling_(torch.empty(4, 4), **kwargs)
