"""AWConv2d (AW-convolution, eqs. 4-8): the per-tap form equals the literal
per-sample-kernel form, forward and gradients; parameter count; refusals."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers.aw_conv import AWConv2d


def _attn_params(conv):
    return sum(p.numel() for n, p in conv.named_parameters()
               if n.startswith('attn'))


def test_attention_branch_parameter_count():
    # spec 3.4: C1*(C2/16) + (C2/16)*C2 + 2*(C2/16) + 2*C2
    conv = AWConv2d(256, 256, 3, padding=1, bias=False)
    assert _attn_params(conv) == 256 * 16 + 16 * 256 + 2 * 16 + 2 * 256
    assert conv.weight.shape == (256, 256, 3, 3) and conv.bias is None
    assert isinstance(conv, nn.Conv2d)


@pytest.mark.parametrize('mode', ['train', 'eval'])
@pytest.mark.parametrize('kernel,stride,padding,dilation,shape', [
    (3, 1, 1, 1, (8, 12, 9, 7)),
    (3, 2, 1, 1, (1, 12, 10, 13)),
    (3, 1, 2, 2, (8, 12, 8, 11)),
    (1, 1, 0, 1, (8, 12, 5, 6)),
    (1, 2, 0, 1, (2, 12, 7, 7)),  # batch 1 + 1x1 + BN training: refused
    ((3, 1), (2, 1), (1, 0), 1, (2, 12, 9, 5)),
    ((3, 1), 1, (1, 0), 1, (2, 12, 9, 5)),
    (3, 1, 0, 1, (3, 12, 8, 9)),
    (3, 1, (2, 0), 1, (2, 12, 6, 7)),
])
def test_fast_forms_equal_the_reference(kernel, stride, padding, dilation,
                                        shape, mode):
    torch.manual_seed(0)
    conv = AWConv2d(12, 20, kernel, stride=stride, padding=padding,
                    dilation=dilation, bias=True, reduction=4)
    with torch.no_grad():  # non-trivial BN statistics for eval mode
        for bn in (conv.attn_bn1, conv.attn_bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    conv.train(mode == 'train')
    x = torch.randn(*shape, requires_grad=True)
    results = {}
    for impl in ('taps', 'fold', 'reference'):
        conv.impl = impl
        out = conv(x)
        weight = torch.randn(out.shape, generator=torch.Generator()
                             .manual_seed(1))
        grads = torch.autograd.grad((out * weight).sum(),
                                    [x] + list(conv.parameters()))
        results[impl] = (out, ) + grads
    names = ['output', 'input'] + [n for n, _ in conv.named_parameters()]
    # within 1e-5 of the tensor's scale: float32 sums of many terms (a
    # weight gradient of magnitude ~100) differ in the last bits whichever
    # order they are added in; in float64 the forms agree to 1e-12.
    for impl in ('taps', 'fold'):
        for name, a, b in zip(names, results[impl], results['reference']):
            scale = max(b.abs().max().item(), 1.0)
            assert (a - b).abs().max().item() <= 1e-5 * scale, (impl, name)


@pytest.mark.parametrize('impl,stride', [('taps', 2), ('fold', 1)])
def test_fast_forms_are_exact_in_float64(impl, stride):
    torch.manual_seed(0)
    conv = AWConv2d(6, 8, 3, stride=stride, padding=1, dilation=1,
                    reduction=4).double()
    x = torch.randn(3, 6, 9, 8, dtype=torch.float64, requires_grad=True)
    outs = []
    for form in (impl, 'reference'):
        conv.impl = form
        assert conv.resolve_impl((9, 8)) == form
        out = conv(x)
        outs.append((out, torch.autograd.grad(out.square().sum(),
                                              [x, conv.weight])))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=1e-12)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-10)


def test_batch_one_with_a_pointwise_kernel_trains():
    # with a per-sample branch norm; the paper's BN is refused there
    # (test_aw_conv_norm_amp.py)
    conv = AWConv2d(8, 16, 1, reduction=4,
                    attn_norm_cfg=dict(type='GN', num_groups=1)).train()
    out = conv(torch.randn(1, 8, 5, 5))
    out.sum().backward()
    assert conv.weight.grad is not None


def test_one_by_one_is_a_per_sample_channel_scale():
    torch.manual_seed(0)
    conv = AWConv2d(8, 16, 1, bias=False, reduction=4).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        plain = nn.functional.conv2d(x, conv.weight)
        assert torch.allclose(conv(x), plain * (1 + conv.attention(x)),
                              atol=1e-6)


def test_every_parameter_gets_a_gradient():
    conv = AWConv2d(8, 16, 3, padding=1, reduction=4)
    conv(torch.randn(4, 8, 6, 6)).square().sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('kwargs,match', [
    (dict(groups=2), 'groups must be 1'),
    (dict(reduction=32), r'reduction \(32\) must not exceed out_channels'),
    (dict(reduction=0), 'reduction must be a positive integer'),
    (dict(impl='fast'), r"impl must be one of \('auto', 'taps', 'fold', "),
    (dict(kernel_size=(3, 3, 3)), 'kernel_size must be an int or a pair'),
    (dict(padding='same'), 'padding must be an int or a pair'),
])
def test_invalid_arguments_are_refused(kwargs, match):
    args = dict(in_channels=8, out_channels=16, kernel_size=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        AWConv2d(**args)


def test_wrong_input_channels_are_refused():
    with pytest.raises(ValueError, match=r'expects \(N, 8, H, W\)'):
        AWConv2d(8, 16, 3)(torch.rand(1, 4, 5, 5))


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
def test_mmcv_builds_it_from_a_conv_cfg(scope):
    from mmcv.cnn import build_conv_layer
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    conv = build_conv_layer(dict(type='td_plugins.AWConv', reduction=8), 8,
                            16, 3, padding=1, bias=False)
    assert isinstance(conv, AWConv2d) and conv.reduction == 8
    assert conv(torch.rand(2, 8, 6, 6)).shape == (2, 16, 6, 6)


def test_auto_picks_per_sample_kernels_on_large_maps_only():
    conv = AWConv2d(8, 16, 3, padding=1, reduction=4)
    assert conv.impl == 'auto'
    assert conv.resolve_impl((20, 20)) == 'reference'
    assert conv.resolve_impl((19, 20)) == 'taps'
    assert AWConv2d(8, 16, 1, reduction=4).resolve_impl((64, 64)) == 'taps'
    strided = AWConv2d(8, 16, 3, stride=2, padding=1, reduction=4)
    assert strided.resolve_impl((40, 40)) == 'reference'   # 20x20 out
    assert strided.resolve_impl((38, 40)) == 'taps'        # 19x20 out
    # col2im cannot express padding beyond the kernel's extent or strides
    wide = AWConv2d(8, 16, 3, padding=3, reduction=4, impl='fold')
    assert AWConv2d(8, 16, 3, padding=1, reduction=4,
                    impl='fold').resolve_impl((8, 8)) == 'fold'
    strided.impl = 'fold'
    assert strided.resolve_impl((8, 8)) == 'taps'
    assert wide.resolve_impl((8, 8)) == 'taps'


@pytest.mark.parametrize('size', [(9, 11), (3, 3), (2, 5), (16, 7)])
def test_pool_impls_agree(size):
    """``pool_impl='matrix'`` gives the adaptive pooling's attention and
    output, chosen at construction or set later."""
    torch.manual_seed(0)
    conv = AWConv2d(8, 16, 3, padding=1, reduction=4).eval()
    matrix = AWConv2d(8, 16, 3, padding=1, reduction=4,
                      pool_impl='matrix').eval()
    matrix.load_state_dict(conv.state_dict())
    assert set(matrix.state_dict()) == set(conv.state_dict())
    x = torch.randn(2, 8, *size)
    with torch.no_grad():
        want = conv(x)
        torch.testing.assert_close(matrix(x), want, rtol=1e-5, atol=1e-6)
        conv.pool_impl = 'matrix'
        torch.testing.assert_close(conv(x), want, rtol=1e-5, atol=1e-6)
    assert "pool_impl='matrix'" in repr(conv)


def test_pool_impl_is_checked():
    with pytest.raises(ValueError, match=r"pool_impl must be one of "
                       r"\('adaptive', 'matrix'\), got 'max'"):
        AWConv2d(8, 16, 3, reduction=4, pool_impl='max')
    conv = AWConv2d(8, 16, 3, reduction=4)
    with pytest.raises(ValueError, match='pool_impl must be one of'):
        conv.pool_impl = 'onnx'
    assert conv.pool_impl == 'adaptive'
