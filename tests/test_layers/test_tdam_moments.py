"""Early TDAM tops in training from conv3's input moments
(``train_early_tops``): the same outputs, gradients and running statistics
as the full top, in float64."""
import functools

import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers.tdam_blocks import (
    TDBasicBlock,
    TDBottleneck,
    check_train_early_tops,
)
from td_plugins.models.layers.tdam_moments import (
    _Moments,
    moments_apply,
    moments_cheaper,
    pooled_conv_bn,
)

TOL = dict(rtol=1e-9, atol=1e-11)


def _close(a, b, what):
    assert (a is None) == (b is None), what
    if a is not None:
        assert a.dtype == b.dtype and a.shape == b.shape, what
        assert torch.allclose(a, b, **TOL), (
            f'{what}: {(a - b).abs().max().item():.3g}')


def _randomise_bns(module, seed):
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d) and m.affine:
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.5, 0.5, generator=gen)


@pytest.mark.parametrize('momentum', [0.1, 0.7, None])
@pytest.mark.parametrize('affine,track', [(True, True), (False, True),
                                          (True, False)])
def test_pooled_conv_bn_equals_the_pooled_full_map(momentum, affine, track):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, 1, bias=False).double()
    full_bn = nn.BatchNorm2d(10, momentum=momentum, affine=affine,
                             track_running_stats=track).double()
    _randomise_bns(full_bn, 1)
    conv2 = nn.Conv2d(6, 10, 1, bias=False).double()
    conv2.load_state_dict(conv.state_dict())
    mom_bn = nn.BatchNorm2d(10, momentum=momentum, affine=affine,
                            track_running_stats=track).double()
    mom_bn.load_state_dict(full_bn.state_dict())
    for call in range(3):  # 3 updates: the cumulative average differs
        x = (torch.randn(3, 6, 5, 7, dtype=torch.float64) * 2 + 1).relu()
        g = torch.randn(3, 10, 1, 1, dtype=torch.float64)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1 = full_bn(conv(x1)).mean((2, 3), keepdim=True)
        y2 = pooled_conv_bn(x2, conv2, mom_bn)
        _close(y2, y1, f'output, call {call}')
        (y1 * g).sum().backward()
        (y2 * g).sum().backward()
        _close(x2.grad, x1.grad, 'input gradient')
    _close(conv2.weight.grad, conv.weight.grad, 'conv gradient')
    for (name, p1), p2 in zip(full_bn.named_parameters(),
                              mom_bn.parameters()):
        _close(p2.grad, p1.grad, f'bn.{name} gradient')
    for (name, b1), b2 in zip(full_bn.named_buffers(), mom_bn.buffers()):
        assert torch.equal(b1, b2) if b1.dtype == torch.long else \
            torch.allclose(b1, b2, **TOL), name
    if track:
        assert int(mom_bn.num_batches_tracked) == 3


@pytest.mark.parametrize('output', [0, 1, None])
def test_the_covariance_backward_passes_gradcheck(output):
    x = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)

    def fn(x):
        outs = _Moments.apply(x)
        return outs if output is None else outs[output]
    assert torch.autograd.gradcheck(fn, (x, ))


def test_pooled_conv_bn_under_autocast_keeps_float32_moments():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)
    x = torch.randn(2, 8, 6, 6) + 3
    want = bn(conv(x)).mean((2, 3), keepdim=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = pooled_conv_bn(x.bfloat16(), conv, nn.BatchNorm2d(16))
    assert got.dtype == torch.bfloat16
    # bfloat16 input rounding only (var from bfloat16 Gram would be far off)
    assert torch.allclose(got.float(), want, atol=0.05)


def test_moments_apply_only_to_pointwise_conv_and_batch_stat_bn():
    bn = nn.BatchNorm2d(8)
    assert moments_apply(nn.Conv2d(4, 8, 1, bias=False), bn)
    for conv in (nn.Conv2d(4, 8, 3, padding=1, bias=False),
                 nn.Conv2d(4, 8, 1), nn.Conv2d(4, 8, 1, 2, bias=False),
                 nn.Conv2d(4, 8, 1, groups=2, bias=False)):
        assert not moments_apply(conv, bn), conv
    conv = nn.Conv2d(4, 8, 1, bias=False)
    assert not moments_apply(conv, nn.BatchNorm2d(8).eval())
    assert moments_apply(conv, nn.BatchNorm2d(
        8, track_running_stats=False).eval())  # batch statistics in eval
    assert not moments_apply(conv, nn.SyncBatchNorm(8))
    assert not moments_apply(conv, nn.GroupNorm(2, 8))


def test_moments_cheaper_counts_forward_and_backward_macs():
    # ResNet-50 layer3 at batch 8: 0.41 vs 1.23 GMACs; layer4: 1.84 vs 1.23
    assert moments_cheaper(torch.empty(8, 256, 14, 14), 1024)
    assert not moments_cheaper(torch.empty(8, 512, 7, 7), 2048)
    assert moments_cheaper(torch.empty(64, 512, 7, 7), 2048)
    with torch.no_grad():  # forward only: 0.65 vs 0.41 GMACs
        assert not moments_cheaper(torch.empty(8, 512, 7, 7), 2048)
        assert moments_cheaper(torch.empty(32, 512, 7, 7), 2048)


def test_moment_tops_save_the_counted_macs():
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.randn(2, 64, 14, 14, requires_grad=True)
    macs = {}
    for mode in ('full', 'moments'):
        blk = TDBottleneck(64, 16, reduction=4, train_early_tops=mode)
        with FlopCounterMode(display=False) as counter:
            blk(x).sum().backward()
        macs[mode] = counter.get_total_flops() // 2
    n, c, o, images = 2 * 14 * 14, 16, 64, 2
    # step-0 conv3 forward + backward, against covariance, W Cov and the
    # per-image projection, forward + backward (moments_cheaper's counts)
    saved = 3 * n * c * o - c * (2 * n * c + 3 * o * c + 3 * images * o)
    assert macs['full'] - macs['moments'] == saved > 0


def _pair(mode_a, mode_b, m, steps, with_cp, momentum):
    norm = functools.partial(nn.BatchNorm2d, momentum=momentum)
    torch.manual_seed(0)
    blocks = []
    for mode in (mode_a, mode_b):
        down = nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False), norm(32))
        blocks.append(TDBottleneck(
            16, 8, stride=2, downsample=down, norm_layer=norm,
            feedback_distance=m, num_steps=steps, reduction=4,
            with_cp=with_cp, train_early_tops=mode).double())
    _randomise_bns(blocks[0], 2)
    blocks[1].load_state_dict(blocks[0].state_dict())
    return blocks


@pytest.mark.parametrize('m,steps', [(1, 2), (2, 3), (3, 2), (1, 3)])
@pytest.mark.parametrize('with_cp', [False, True])
@pytest.mark.parametrize('momentum', [0.1, None])
def test_bottleneck_moments_equal_full_tops(moment_top_calls, m, steps,
                                            with_cp, momentum):
    calls = moment_top_calls
    full, mom = _pair('full', 'moments', m, steps, with_cp, momentum)
    for it in range(2):
        x = torch.randn(3, 16, 9, 7, dtype=torch.float64)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1, y2 = full(x1), mom(x2)
        _close(y2, y1, f'output, iteration {it}')
        g = torch.randn_like(y1)
        (y1 * g).sum().backward()
        (y2 * g).sum().backward()
        _close(x2.grad, x1.grad, 'input gradient')
    # one moment top per early top and forward (with_cp: not recomputed)
    assert len(calls) == 2 * (steps - 1) * (2 if with_cp else 1)
    for (name, p1), p2 in zip(full.named_parameters(), mom.parameters()):
        _close(p2.grad, p1.grad, f'{name} gradient')
    for (name, b1), b2 in zip(full.named_buffers(), mom.buffers()):
        _close(b2, b1, name)
    assert int(mom.bn3.num_batches_tracked) == 2


@pytest.mark.parametrize('with_cp', [False, True])
def test_eval_and_last_step_use_the_normal_path(moment_top_calls, with_cp):
    calls = moment_top_calls
    full, mom = _pair('full', 'moments', 1, 2, with_cp, 0.1)
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    full.eval(), mom.eval()
    _close(mom(x), full(x), 'eval output')
    mom.train()
    mom.forward_to_step(x.requires_grad_(), 1)  # the step-0 top is last
    assert calls == []


def test_auto_takes_moments_only_where_cheaper(moment_top_calls):
    calls = moment_top_calls
    blk = TDBottleneck(64, 16, reduction=4)  # 16 -> 64 channels
    assert blk.train_early_tops == 'auto'
    blk(torch.randn(2, 64, 14, 14))       # n = 392: cheaper
    assert len(calls) == 1
    blk(torch.randn(1, 64, 2, 2))         # n = 4 < 16: the full conv
    assert len(calls) == 1
    TDBottleneck(64, 16, reduction=4, train_early_tops='full')(
        torch.randn(2, 64, 14, 14))
    assert len(calls) == 1


def test_syncbn_falls_back_under_auto_and_is_refused_for_moments(
        moment_top_calls):
    calls = moment_top_calls
    blk = TDBottleneck(64, 16, reduction=4, norm_layer=nn.SyncBatchNorm)
    # outside a process group SyncBatchNorm normalises as BatchNorm
    blk(torch.randn(2, 64, 14, 14))
    assert calls == []
    with pytest.raises(ValueError, match=r"train_early_tops='moments' needs "
                       r'conv3 to be .* got bn3 = SyncBatchNorm'):
        TDBottleneck(64, 16, reduction=4, norm_layer=nn.SyncBatchNorm,
                     train_early_tops='moments')


@pytest.mark.parametrize('kwargs,block', [
    (dict(feedback_distance=0), TDBottleneck),
    (dict(num_steps=1), TDBottleneck),
    (dict(feedback_distance=1), TDBasicBlock)])
def test_moments_refused_where_there_is_no_pointwise_early_top(kwargs,
                                                               block):
    with pytest.raises(ValueError, match=r"train_early_tops='moments' needs "
                       r'a Bottleneck block with feedback_distance >= 1 and '
                       r'num_steps >= 2'):
        block(64, 16 if block is TDBottleneck else 64, reduction=4,
              train_early_tops='moments', **kwargs)


def test_train_early_tops_value_is_checked():
    with pytest.raises(ValueError, match=r"train_early_tops must be one of "
                       r"\('auto', 'moments', 'full'\), got 'yes'"):
        check_train_early_tops('yes')
