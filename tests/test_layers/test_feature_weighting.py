"""FeatureWeighting: TNet's CUB/NABirds feature weighting (spec 4.1)."""
import pytest
import torch
import torch.nn.functional as F

from td_plugins.models.layers import FeatureWeighting


def test_parameter_count_and_shapes():
    fw = FeatureWeighting()
    # 1280*320 + 320 + 320*1280 + 1280 + 1280 + 1; with positional 410,880
    # and location 19,725 it gives TNet-B0 CUB - EN-B0 CUB (spec 4.5)
    assert sum(p.numel() for p in fw.parameters()) == 822_081
    assert 822_081 + 410_880 + 19_725 == 5_558_450 - 4_305_764
    pooled, w = fw(torch.randn(2, 6, 1280))
    assert pooled.shape == (2, 1280) and w.shape == (2, 6)


def test_matches_the_formula():
    torch.manual_seed(0)
    fw = FeatureWeighting(24, 6)
    with torch.no_grad():
        for p in fw.parameters():
            p.normal_()
    feats = torch.randn(3, 5, 24)
    g = torch.sigmoid(fw.se_fc2(F.silu(fw.se_fc1(feats.mean(1)))))
    w = torch.softmax((feats * g[:, None]) @ fw.output_linear.weight[0]
                      + fw.output_linear.bias, dim=1)
    pooled, weights = fw(feats)
    torch.testing.assert_close(weights, w)
    torch.testing.assert_close(pooled, (w[..., None] * feats).sum(1))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    assert not torch.allclose(pooled, feats.mean(1))


def test_single_feature_passes_through():
    feats = torch.randn(2, 1, 16)
    pooled, w = FeatureWeighting(16, 4)(feats)
    torch.testing.assert_close(pooled, feats[:, 0])
    assert torch.all(w == 1)


def test_every_parameter_gets_a_gradient_and_weights_are_detached():
    fw = FeatureWeighting(16, 4)
    feats = torch.randn(3, 4, 16, requires_grad=True)
    pooled, weights = fw(feats)
    assert not weights.requires_grad
    (pooled * torch.randn_like(pooled)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in fw.parameters())
    assert feats.grad is not None and feats.grad.abs().sum() > 0


@pytest.mark.parametrize('kwargs,match', [
    (dict(dim=0), r'dim must be a positive integer'),
    (dict(hidden=2.5), r'hidden must be a positive integer'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureWeighting(**kwargs)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r'feats must have shape \[B, N, 16'):
        FeatureWeighting(16, 4)(torch.randn(2, 16))
