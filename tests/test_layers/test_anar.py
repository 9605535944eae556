"""ANAR (TDAF Table 1) and the half-scale residual gate (eq. 5)."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers import ANAR, HalfScaleResidualGate


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize('c,expected', [
    # Table 1 widths c/8 -> c/32 -> 1, BN affine included.
    (256, 256 * 32 + 64 + 32 * 8 * 16 + 16 + 8 + 1),
    (1024, 1024 * 128 + 256 + 128 * 32 * 16 + 64 + 32 + 1),
])
def test_anar3_parameter_count(c, expected):
    assert _params(ANAR(c, depth=3)) == expected


def test_anar5_layers_follow_table_1():
    anar = ANAR(256, depth=5)
    assert anar.trans.out_channels == 64                    # c/4
    assert [d.out_channels for d in anar.downs] == [32]     # c/8, /2
    assert anar.downs[0].stride == (2, 2)
    assert [u.out_channels for u in anar.ups] == [16, 8]    # c/16, c/32
    assert all(u.kernel_size == (4, 4) and u.stride == (2, 2)
               for u in anar.ups)
    assert len(anar.skips) == 1 and anar.skips[0].in_channels == 64
    assert anar.last.out_channels == 1
    anar7 = ANAR(256, depth=7)
    assert [d.out_channels for d in anar7.downs] == [32, 32]
    assert [u.out_channels for u in anar7.ups] == [16, 16, 8]
    assert [s.in_channels for s in anar7.skips] == [32, 64]


@pytest.mark.parametrize('depth', [3, 5, 7])
@pytest.mark.parametrize('dims', [2, 3])
def test_output_is_a_mask_at_twice_the_resolution(depth, dims):
    anar = ANAR(64, depth=depth, dims=dims, zero_init_last=False).eval()
    x = torch.rand(2, 64, *([6] * dims))
    g = anar(x)
    assert g.shape == (2, 1, *([12] * dims))
    assert g.min() > 0 and g.max() < 1
    assert g.std() > 0  # not the zero-init constant


@pytest.mark.parametrize('depth', [3, 5, 7])
def test_odd_sizes_reach_the_requested_output(depth):
    anar = ANAR(32, depth=depth)
    # e.g. flow n-1 saw 223x257 -> stage output 7x9, flow n's is 14x17
    g = anar(torch.rand(1, 32, 7, 9), out_size=(14, 17))
    assert g.shape == (1, 1, 14, 17)
    anar3d = ANAR(32, depth=depth, dims=3)
    g = anar3d(torch.rand(1, 32, 3, 5, 5), out_size=(5, 9, 10))
    assert g.shape == (1, 1, 5, 9, 10)


@pytest.mark.parametrize('depth', [3, 5, 7])
def test_zero_init_gives_half_and_an_identity_gate(depth):
    anar = ANAR(64, depth=depth).train()
    g = anar(torch.randn(2, 64, 5, 5))
    assert torch.equal(g, torch.full_like(g, 0.5))
    h = torch.randn(2, 64, 10, 10)
    assert torch.equal(HalfScaleResidualGate(0.5)(h, g), h)


@pytest.mark.parametrize('depth', [3, 5, 7])
def test_every_parameter_gets_a_gradient(depth):
    anar = ANAR(64, depth=depth, dims=3, zero_init_last=False)
    h = torch.randn(2, 64, 4, 8, 8)
    out = HalfScaleResidualGate()(h, anar(torch.randn(2, 64, 2, 4, 4)))
    (out ** 2).sum().backward()
    for name, p in anar.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gate_damps_and_amplifies():
    gate = HalfScaleResidualGate()
    h = torch.ones(1, 1, 1, 2)
    out = gate(h, torch.tensor([[[[0.0, 1.0]]]]))
    assert out.flatten().tolist() == [0.5, 1.5]


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=4), r'depth \(anar\) must be one of \(3, 5, 7\)'),
    (dict(dims=1), 'dims must be 2 or 3'),
    (dict(in_channels=0), 'in_channels must be a positive integer'),
])
def test_invalid_anar_arguments_are_refused(kwargs, match):
    args = dict(in_channels=64)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ANAR(**args)


@pytest.mark.parametrize('eta', [-0.1, 1.5, 'half', True])
def test_invalid_eta_is_refused(eta):
    with pytest.raises(ValueError, match=r'eta must be a number in \[0, 1\]'):
        HalfScaleResidualGate(eta)


def test_wrong_input_rank_is_refused():
    with pytest.raises(ValueError, match='expects a 5-D input'):
        ANAR(8, dims=3)(torch.rand(1, 8, 4, 4))


def test_gate_in_place_overwrites_only_when_asked():
    gate = HalfScaleResidualGate()
    h, g = torch.ones(1, 2, 1, 1), torch.full((1, 1, 1, 1), 1.0)
    out = gate(h, g)
    assert out is not h and h.flatten().tolist() == [1.0, 1.0]
    out = gate(h, g, inplace=True)
    assert out is h and h.flatten().tolist() == [1.5, 1.5]
