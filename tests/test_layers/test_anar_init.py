"""ANAR's two starts: identity (zero last conv, for pretrained weights) and
the paper's from-scratch Kaiming init (section 4.1), fan_in for the last
conv so that the mask logits start at unit scale."""
import math

import torch

from td_plugins.models.layers import ANAR


def test_identity_start_is_a_constant_half_mask():
    anar = ANAR(64, depth=3, zero_init_last=True).eval()
    assert anar.last.weight.abs().sum() == 0
    assert anar.last.bias.abs().sum() == 0
    with torch.no_grad():
        g = anar(torch.rand(2, 64, 8, 8))
    torch.testing.assert_close(g, torch.full_like(g, 0.5))


def test_from_scratch_last_conv_is_kaiming_fan_in():
    torch.manual_seed(0)
    anar = ANAR(256, depth=3, zero_init_last=False)
    w = anar.last.weight
    fan_in = w.shape[1] * w[0, 0].numel()
    want = math.sqrt(2.0 / fan_in)  # kaiming_normal_, relu gain
    assert abs(float(w.std()) / want - 1) < 0.25, (float(w.std()), want)
    assert float(w.std()) < math.sqrt(2) / 2  # not fan_out's sqrt(2)
    assert anar.last.bias.abs().sum() == 0
    anar.eval()
    with torch.no_grad():
        g = anar(torch.rand(2, 256, 8, 8))
    # spread masks, not saturated and not constant
    assert 0.05 < float(g.std()) and float((g > 0.99).float().mean()) < 0.5
