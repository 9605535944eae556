"""SqueezeExcitation (SE, Hu et al. eqs. 2-4)."""
import pytest
import torch

from td_plugins.models.layers import SqueezeExcitation


def test_gate_and_parameters():
    torch.manual_seed(0)
    se = SqueezeExcitation(32, reduction=8)
    assert sum(p.numel() for p in se.parameters()) == 2 * 32 * 4 + 4 + 32
    x = torch.randn(2, 32, 5, 3)
    s = torch.sigmoid(se.fc2(torch.relu(se.fc1(x.mean((2, 3), True)))))
    torch.testing.assert_close(se(x), x * s)


def test_every_parameter_gets_a_gradient():
    se = SqueezeExcitation(16, reduction=4)
    se(torch.randn(2, 16, 4, 4)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in se.parameters())


@pytest.mark.parametrize('reduction', [0, 64, 2.5])
def test_invalid_reduction_is_refused(reduction):
    with pytest.raises(ValueError, match=r'reduction must be an integer in '
                       r'\[1, channels=32\]'):
        SqueezeExcitation(32, reduction)
