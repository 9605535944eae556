"""AWConv2d's attention-branch norm (``attn_norm_cfg``) and autocast.

* The per-sample norms (GN, None) make A the same function of its own image
  in training and eval, and a 1x1 conv's A keeps many values at batch 2,
  where the paper's BN normalises 2 values per channel to about +-1 (A near
  sigmoid(+-1) = 0.27 / 0.73).
* A training BN with one value per channel is refused (it used to fall back
  to running statistics it never updated).
* BN keeps the state-dict keys; bad choices are refused by name.
* Under bf16 autocast the output dtype is nn.Conv2d's; A stays float32.
"""
import math

import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers.aw_conv import (
    AW_NORMS,
    AWConv2d,
    build_attn_norm,
)

GN1 = dict(type='GN', num_groups=1)


def _trained_conv(norm, kernel=1):
    """A lateral-like AW conv (512 -> 256, r = 16) after a few training
    forwards at batch 2 (BN's running statistics move)."""
    torch.manual_seed(0)
    conv = AWConv2d(512, 256, kernel, padding=kernel // 2,
                    attn_norm_cfg=norm).train()
    with torch.no_grad():
        for _ in range(5):
            conv(torch.relu(torch.randn(2, 512, 9, 9)))
    return conv


def _near_sigmoid_pm1(a: torch.Tensor) -> float:
    lo, hi = 1 / (1 + math.e), 1 / (1 + math.exp(-1))
    near = torch.minimum((a - lo).abs(), (a - hi).abs()) < 0.01
    return near.float().mean().item()


def test_bn_at_batch_two_collapses_a_pointwise_attention():
    """The problem (the paper's BN on a 1x1 conv at 2 images): A is nearly
    binary in training and something else in eval."""
    conv = _trained_conv('BN')
    x = torch.relu(torch.randn(2, 512, 9, 9))
    with torch.no_grad():
        train_a = conv.attention(x)
        conv.eval()
        eval_a = conv.attention(x)
    assert _near_sigmoid_pm1(train_a) > 0.9
    assert (train_a - eval_a).abs().max() > 0.1


@pytest.mark.parametrize('norm', [GN1, 'GN', None])
@pytest.mark.parametrize('kernel', [1, 3])
def test_per_sample_norms_keep_a_continuous_and_train_equal_eval(norm,
                                                                 kernel):
    conv = _trained_conv(norm, kernel)
    x = torch.relu(torch.randn(2, 512, 9, 9))
    with torch.no_grad():
        train_a = conv.attention(x)
        alone = conv.attention(x[1:])            # batch 1 works too
        conv.eval()
        eval_a = conv.attention(x)
    distinct = (train_a * 1000).round().unique().numel()
    assert distinct > 100, distinct
    assert _near_sigmoid_pm1(train_a) < 0.2
    # the same function of each image: in eval, and without the other one
    torch.testing.assert_close(train_a, eval_a, rtol=0, atol=0)
    torch.testing.assert_close(alone, train_a[1:], rtol=1e-6, atol=1e-6)


def test_training_bn_with_one_value_per_channel_is_refused():
    conv = AWConv2d(8, 16, 1, reduction=4).train()
    with pytest.raises(ValueError, match=r"attn_norm_cfg 'GN' or None"):
        conv(torch.randn(1, 8, 5, 5))
    conv.eval()          # running statistics are what eval uses: fine
    assert conv(torch.randn(1, 8, 5, 5)).shape == (1, 16, 5, 5)
    # batch 2, or a 3x3 kernel (9 pooled values per channel), trains
    before = conv.attn_bn1.running_mean.clone()
    conv.train()(torch.randn(2, 8, 5, 5))
    assert not torch.equal(before, conv.attn_bn1.running_mean)
    AWConv2d(8, 16, 3, padding=1, reduction=4).train()(
        torch.randn(1, 8, 5, 5))


def test_bn_keeps_the_state_dict_keys_and_gn_the_parameter_count():
    bn = AWConv2d(32, 64, 3, padding=1, bias=False)      # default: BN
    assert sorted(k for k in bn.state_dict() if 'attn_bn1' in k) == [
        'attn_bn1.bias', 'attn_bn1.num_batches_tracked',
        'attn_bn1.running_mean', 'attn_bn1.running_var', 'attn_bn1.weight']
    assert isinstance(bn.attn_bn2, nn.BatchNorm2d)
    gn = AWConv2d(32, 64, 3, padding=1, bias=False, attn_norm_cfg=GN1)
    assert isinstance(gn.attn_bn1, nn.GroupNorm)
    assert gn.attn_bn1.num_groups == 1
    n = sum(p.numel() for p in bn.parameters())
    assert sum(p.numel() for p in gn.parameters()) == n
    gn.load_state_dict({k: v for k, v in bn.state_dict().items()
                        if 'running' not in k and 'num_batches' not in k})
    none = AWConv2d(32, 64, 3, padding=1, bias=False, attn_norm_cfg=None)
    assert isinstance(none.attn_bn1, nn.Identity)
    assert none.attn_conv1.bias is not None
    assert none.attn_conv2.bias is not None
    # hidden + C_out biases instead of 2 (hidden + C_out) affine parameters
    assert sum(p.numel() for p in none.parameters()) == n - (4 + 64)
    sync = AWConv2d(32, 64, 3, padding=1, attn_norm_cfg='SyncBN')
    assert isinstance(sync.attn_bn2, nn.SyncBatchNorm)


def test_norm_dicts_take_mmcv_keys():
    norm = build_attn_norm(dict(type='BN', eps=1e-3, momentum=0.01,
                                requires_grad=False), 8)
    assert norm.eps == 1e-3 and norm.momentum == 0.01
    assert not any(p.requires_grad for p in norm.parameters())
    assert build_attn_norm(dict(type='GN', num_groups=4), 8).num_groups == 4
    cfg = dict(type='GN', num_groups=2)
    AWConv2d(8, 16, 3, reduction=4, attn_norm_cfg=cfg)
    assert cfg == dict(type='GN', num_groups=2)          # not consumed


@pytest.mark.parametrize('cfg,match', [
    ('LN', r"attn_norm_cfg must be one of \('BN', 'SyncBN', 'GN', None\)"),
    (dict(type='IN'), r"attn_norm_cfg must be one of \('BN', 'SyncBN', "),
    (dict(num_groups=1), r'attn_norm_cfg must be one of'),
    (True, r'attn_norm_cfg must be one of'),
    (dict(type='GN', momentum=0.1),
     r"attn_norm_cfg of type 'GN' takes only the keys \('num_groups', "),
    (dict(type='GN', num_groups=0), 'num_groups must be a positive'),
    (dict(type='GN', num_groups=3),
     r"num_groups \(3\) must divide the attention branch's channels \(4\)"),
])
def test_invalid_norm_is_refused(cfg, match):
    assert AW_NORMS == ('BN', 'SyncBN', 'GN', None)
    with pytest.raises(ValueError, match=match):
        AWConv2d(8, 16, 3, reduction=4, attn_norm_cfg=cfg)


@pytest.mark.parametrize('norm', ['BN', GN1, None])
@pytest.mark.parametrize('kernel,impl,stride', [
    (1, 'auto', 1), (3, 'taps', 1), (3, 'taps', 2), (3, 'fold', 1),
    (3, 'reference', 1), (3, 'reference', 2)])
@pytest.mark.parametrize('bias', [True, False])
def test_bf16_autocast_output_dtype_is_the_plain_convs(norm, kernel, impl,
                                                       stride, bias):
    torch.manual_seed(0)
    args = (8, 16, kernel)
    kwargs = dict(stride=stride, padding=kernel // 2, bias=bias)
    conv = AWConv2d(*args, **kwargs, reduction=4, impl=impl,
                    attn_norm_cfg=norm).train()
    plain = nn.Conv2d(*args, **kwargs)
    x = torch.randn(2, 8, 7, 6, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(x)
        expected = plain(x).dtype
        attention = conv.attention(x)
        low = conv(x.bfloat16())              # a bf16 input, as in a net
    assert expected == torch.bfloat16
    assert out.dtype == expected and low.dtype == expected
    assert attention.dtype == torch.float32
    out.float().square().mean().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert p.dtype == torch.float32
    ref = conv(x.detach())                     # float32, no autocast
    assert ref.dtype == torch.float32
    assert (out.float() - ref).abs().max() <= 2e-2 * ref.abs().max()


def test_float64_and_bf16_modules_keep_their_dtype():
    conv = AWConv2d(8, 16, 3, padding=1, reduction=4, attn_norm_cfg=GN1)
    assert conv.double()(torch.randn(2, 8, 5, 5,
                                     dtype=torch.float64)).dtype == \
        torch.float64
    assert conv.bfloat16()(torch.randn(2, 8, 5, 5,
                                       dtype=torch.bfloat16)).dtype == \
        torch.bfloat16


@pytest.mark.parametrize('norm', ['BN', GN1, None])
def test_every_parameter_gets_a_gradient_with_each_norm(norm):
    conv = AWConv2d(8, 16, 1, reduction=4, attn_norm_cfg=norm).train()
    conv(torch.randn(3, 8, 6, 6)).square().sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gn_branch_by_hand():
    """Independent check of eq. 7 with one-group GN: each sample's pooled
    map is standardised over all its channels and taps, then the
    per-channel affine, then ReLU / sigmoid."""
    torch.manual_seed(0)
    conv = AWConv2d(6, 32, 3, padding=1, reduction=4, attn_norm_cfg=GN1)
    with torch.no_grad():
        for norm in (conv.attn_bn1, conv.attn_bn2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(3, 6, 7, 8, dtype=torch.float64)
    conv.double()

    def gn(z, norm):
        flat = z.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        var = flat.var(1, unbiased=False).view(-1, 1, 1, 1)
        return (z - mean) / (var + norm.eps).sqrt() * \
            norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)

    pooled = torch.stack([
        torch.stack([x[:, :, rows][:, :, :, cols].mean(dim=(2, 3))
                     for cols in (slice(0, 3), slice(2, 6), slice(5, 8))],
                    dim=-1)
        for rows in (slice(0, 3), slice(2, 5), slice(4, 7))], dim=-2)
    w1 = conv.attn_conv1.weight[:, :, 0, 0]
    w2 = conv.attn_conv2.weight[:, :, 0, 0]
    hidden = torch.relu(gn(torch.einsum('hc,ncij->nhij', w1, pooled),
                           conv.attn_bn1))
    expected = torch.sigmoid(gn(torch.einsum('oh,nhij->noij', w2, hidden),
                                conv.attn_bn2))
    with torch.no_grad():
        torch.testing.assert_close(conv.attention(x), expected, rtol=1e-12,
                                   atol=1e-12)
        out = conv(x)
        ref = torch.stack([nn.functional.conv2d(
            x[n:n + 1], conv.weight * (1 + expected[n])[:, None], conv.bias,
            padding=1)[0] for n in range(3)])
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
