"""TDAM's step loop at T >= 2 on all four hosts, against a computation
written here from each host's sub-modules (eqs. 1-3 of the TDAM paper)."""
import re
from typing import Callable, List, Sequence

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from td_plugins.models.backbones import TDAMResNet
from td_plugins.models.layers import TDAMSteps
from td_plugins.models.layers.tdam_steps import (
    FEEDBACK_DISTANCES,
    check_steps,
    check_tdam_args,
)

mmaction = pytest.importorskip('mmaction')
mmpretrain = pytest.importorskip('mmpretrain')
from td_plugins.models.backbones.tdam_convnext import (  # noqa: E402
    TDAMConvNeXt,
    TDConvNeXtBlock,
)
from td_plugins.models.backbones.tdam_mobilenet_v3 import (  # noqa: E402
    TDAMMobileNetV3,
    TDInvertedResidual,
)
from td_plugins.models.backbones.tdam_resnet3d import (  # noqa: E402
    TDAMResNet3d,
    TDBasicBlock3d,
    TDBottleneck3d,
)
from td_plugins.models.layers.tdam_blocks import TDBasicBlock, TDBottleneck  # noqa: E402

CONVNEXT_ARCH = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])
Layer = Callable[[torch.Tensor, int], torch.Tensor]


def _randomise(model: nn.Module) -> nn.Module:
    """Random affine and running statistics in every BN, so each step's
    norm differs from the first pass's and no branch starts at zero."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
    return model


def _steps(layers: Sequence[Layer], x: torch.Tensor, m: int, steps: int,
           attend: Callable) -> torch.Tensor:
    """Eqs. 1-3: the top of the last step. ``layers[i](h, t)`` is layer i
    with step t's norm; the bottom is the input of the last m layers."""
    acts = [x]
    for layer in layers:
        acts.append(layer(acts[-1], 0))
    top, bottom = acts[-1], acts[-1 - m]
    if m == 0:
        for _ in range(steps):
            top = attend(top, top)
        return top
    for t in range(1, steps):
        bottom = attend(bottom, top)
        h = bottom
        for layer in layers[len(layers) - m:]:
            h = layer(h, t)
        top = h
    return top


# ----------------------------------------------------- blocks, by hand ---

def _ref_resnet2d(b: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    n = 3 if isinstance(b, TDBottleneck) else 2

    def layer(i: int) -> Layer:
        def run(h: torch.Tensor, t: int) -> torch.Tensor:
            norm = getattr(b, f'bn{i}' if t == 0 else f'bn{i}_{t}')
            h = norm(getattr(b, f'conv{i}')(h))
            return h if i == n else F.relu(h)
        return run

    top = _steps([layer(i) for i in range(1, n + 1)], x,
                 b.feedback_distance, steps, b.td)
    skip = x if b.downsample is None else b.downsample(x)
    return F.relu(top + skip)


def _ref_resnet3d(b: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    n = 3 if isinstance(b, TDBottleneck3d) else 2

    def layer(i: int) -> Layer:
        def run(h: torch.Tensor, t: int) -> torch.Tensor:
            conv = getattr(b, f'conv{i}')
            h = conv.bn(conv.conv(h)) if t == 0 else \
                getattr(b, f'bn{i}_{t}')(conv.conv(h))
            return h if i == n else F.relu(h)
        return run

    top = _steps([layer(i) for i in range(1, n + 1)], x,
                 b.feedback_distance, steps, b.td)
    skip = x if b.downsample is None else b.downsample(x)
    return F.relu(top + skip)


def _ref_convnext(b: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    # mmpretrain's default linear_pw_conv: NHWC between the pointwise convs
    normed = b.norm(b.depthwise_conv(x).permute(0, 2, 3, 1),
                    data_format='channel_last')
    layers = [lambda h, t: b.act(b.pointwise_conv1(h)),
              lambda h, t: b.pointwise_conv2(h)]

    def attend(bottom: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
        return b.td(bottom.permute(0, 3, 1, 2),
                    top.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    top = _steps(layers, normed, b.feedback_distance, steps, attend)
    return x + top.permute(0, 3, 1, 2) * b.gamma.view(1, -1, 1, 1)


def _ref_mobilenet(b: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    pre = b.expand_conv(x) if b.with_expand_conv else x

    def depthwise(h: torch.Tensor, t: int) -> torch.Tensor:
        dw = b.depthwise_conv
        h = dw.bn(dw.conv(h)) if t == 0 else \
            getattr(b, f'depthwise_conv_bn_{t}')(dw.conv(h))
        return dw.activate(h)

    def linear(h: torch.Tensor, t: int) -> torch.Tensor:
        conv = b.linear_conv
        return conv.bn(conv.conv(h)) if t == 0 else \
            getattr(b, f'linear_conv_bn_{t}')(conv.conv(h))

    top = _steps([depthwise, linear], pre, b.feedback_distance, steps, b.td)
    return x + top if b.with_res_shortcut else top


REFS = ((TDBasicBlock, _ref_resnet2d), (TDBottleneck, _ref_resnet2d),
        (TDBasicBlock3d, _ref_resnet3d), (TDBottleneck3d, _ref_resnet3d),
        (TDConvNeXtBlock, _ref_convnext),
        (TDInvertedResidual, _ref_mobilenet))


def _run(blocks: Sequence[nn.Module], x: torch.Tensor,
         steps: int) -> torch.Tensor:
    """``blocks`` in turn, each TD block by hand with ``steps`` steps."""
    for block in blocks:
        ref = [fn for cls, fn in REFS if isinstance(block, cls)]
        x = ref[0](block, x, steps) if ref else block(x)
    return x


# --------------------------------------------------- backbones, by hand ---

def _ref_tdam_resnet(model: TDAMResNet, x: torch.Tensor, t: int) -> list:
    x = model.maxpool(F.relu(model.bn1(model.conv1(x))))
    outs = []
    for i, stage in enumerate(model.stages):
        x = _run(stage, x, t if i == 3 else model.num_steps)
        if i in model.out_indices:
            outs.append((x, x))
    return outs


def _ref_tdam_resnet3d(model: nn.Module, x: torch.Tensor, t: int) -> list:
    x = model.conv1(x)
    if model.with_pool1:
        x = model.maxpool(x)
    outs = []
    last = len(model.res_layers) - 1
    for i, name in enumerate(model.res_layers):
        x = _run(getattr(model, name), x, t if i == last else
                 model.num_steps)
        if i == 0 and model.with_pool2:
            x = model.pool2(x)
        if i in model.out_indices:
            outs.append((x, x))
    return outs


def _ref_tdam_convnext(model: nn.Module, x: torch.Tensor, t: int) -> list:
    k = model.td_stages[-1]
    outs = []
    for i, stage in enumerate(model.stages):
        x = _run(stage, model.downsample_layers[i](x),
                 t if i == k else model.num_steps)
        if i in model.out_indices:
            norm = getattr(model, f'norm{i}')
            out = norm(x.mean((2, 3), keepdim=True)).flatten(1) if \
                model.gap_before_final_norm else norm(x)
            outs.append((out, x))
    return outs


def _ref_tdam_mobilenet(model: nn.Module, x: torch.Tensor, t: int) -> list:
    k = model.td_layers[-1]
    outs = []
    for i, name in enumerate(model.layers):
        x = _run([getattr(model, name)], x, t if i == k else model.num_steps)
        if i in model.out_indices:
            outs.append((x, x))
    return outs


def _hosts() -> list:
    """(id, builder(m, T, mode), reference, input shape, valid m)."""
    return [
        ('resnet18', lambda m, T, mode: TDAMResNet(
            depth=18, feedback_distance=m, num_steps=T, td_mode=mode,
            reduction=8, out_indices=(2, 3)),
         _ref_tdam_resnet, (2, 3, 32, 32), FEEDBACK_DISTANCES['BasicBlock']),
        ('resnet50', lambda m, T, mode: TDAMResNet(
            depth=50, feedback_distance=m, num_steps=T, td_mode=mode),
         _ref_tdam_resnet, (2, 3, 32, 32), FEEDBACK_DISTANCES['Bottleneck']),
        ('resnet3d18', lambda m, T, mode: TDAMResNet3d(
            depth=18, pretrained=None, feedback_distance=m, num_steps=T,
            td_mode=mode, reduction=8, out_indices=(2, 3)),
         _ref_tdam_resnet3d, (1, 3, 4, 32, 32),
         FEEDBACK_DISTANCES['BasicBlock']),
        ('resnet3d50', lambda m, T, mode: TDAMResNet3d(
            depth=50, pretrained=None, stage_blocks=(1, 1, 2, 1),
            feedback_distance=m, num_steps=T, td_mode=mode),
         _ref_tdam_resnet3d, (1, 3, 4, 32, 32),
         FEEDBACK_DISTANCES['Bottleneck']),
        ('convnext', lambda m, T, mode: TDAMConvNeXt(
            arch=CONVNEXT_ARCH, feedback_distance=m, num_steps=T,
            td_mode=mode, reduction=4, out_indices=(2, 3),
            layer_scale_init_value=1.0),
         _ref_tdam_convnext, (2, 3, 64, 64), FEEDBACK_DISTANCES['ConvNeXt']),
        ('mobilenetv3', lambda m, T, mode: TDAMMobileNetV3(
            arch='small', feedback_distance=m, num_steps=T, td_mode=mode,
            reduction=4, out_indices=(8, 12)),
         _ref_tdam_mobilenet, (2, 3, 32, 32),
         FEEDBACK_DISTANCES['MobileNetV3']),
    ]


CASES = [(host[0], m, T, mode) for host in _hosts()
         for (m, T, mode) in [(1, 2, 'joint'), (1, 3, 'top'),
                              (max(host[4]), 3, 'joint'),
                              (min(host[4]), 2, 'top')]]


@pytest.mark.parametrize('host,m,steps,mode', CASES)
def test_steps_equal_the_computation_by_hand(host, m, steps, mode):
    _, build, reference, shape, _ = [h for h in _hosts() if h[0] == host][0]
    torch.manual_seed(0)
    model = _randomise(build(m, steps, mode)).double()
    model.eval()  # ResNet3d.train returns None
    x = torch.rand(*shape, dtype=torch.float64)
    with torch.no_grad():
        outs = model.forward_steps(x)
        maps = model.forward_step_maps(x)
        final = model(x)
        refs = [reference(model, x, t) for t in range(1, steps + 1)]
    final = final if isinstance(final, tuple) else (final, )
    assert len(outs) == len(maps) == steps
    for t, (out, fmap, ref) in enumerate(zip(outs, maps, refs), 1):
        assert len(out) == len(ref), t
        for got, (want, _) in zip(out, ref):
            torch.testing.assert_close(got, want, msg=f'step {t}')
        torch.testing.assert_close(fmap, ref[-1][1], msg=f'map {t}')
    for got, want in zip(outs[-1], final):
        torch.testing.assert_close(got, want)
    # the steps differ: the attention acts on the stepped stage
    assert not torch.allclose(maps[0], maps[-1])


def _core_parameters(model: nn.Module) -> List[str]:
    """Names of the parameters the step core builds: ``td.*`` and the
    per-step norms ``*_<t>``."""
    names = []
    for prefix, module in model.named_modules():
        if not isinstance(module, TDAMSteps):
            continue
        for child, sub in module.named_children():
            if child == 'td' or re.fullmatch(r'.+_\d+', child):
                names += [f'{prefix}.{child}.{n}'
                          for n, _ in sub.named_parameters()]
    return names


@pytest.mark.parametrize('host', [h[0] for h in _hosts()])
def test_every_core_parameter_gets_a_gradient(host):
    _, build, _, shape, valid = [h for h in _hosts() if h[0] == host][0]
    torch.manual_seed(0)
    model = _randomise(build(max(valid), 3, 'joint'))
    model.train()
    out = model(torch.rand(*shape))
    out = out if isinstance(out, tuple) else (out, )
    sum(o.square().mean() for o in out).backward()
    params = dict(model.named_parameters())
    names = _core_parameters(model)
    assert names and any('.td.' in n for n in names)
    for name in names:
        grad = params[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize('args,match', [
    (('Inception', 1, 2), r"host must be one of \('BasicBlock', "
                          r"'Bottleneck', 'ConvNeXt', 'MobileNetV3'\), "
                          r"got 'Inception'"),
    (('Bottleneck', 4, 2),
     r'feedback_distance must be one of \(0, 1, 2, 3\) for Bottleneck, '
     r'got 4'),
    (('ConvNeXt', 0, 2),
     r'feedback_distance must be one of \(1, 2\) for ConvNeXt, got 0'),
    (('MobileNetV3', True, 2),
     r'feedback_distance must be one of \(1, 2\) for MobileNetV3, got True'),
    (('BasicBlock', 1, 0), r'num_steps must be an integer >= 1, got 0'),
    (('BasicBlock', 1, 2.0), r'num_steps must be an integer >= 1, got 2.0'),
    (('BasicBlock', 1, 2, 'bottom'),
     r"td_mode must be one of \('joint', 'top'\), got 'bottom'"),
    (('BasicBlock', 1, 2, 'joint', 0),
     r'reduction must be a positive integer, got 0'),
    (('BasicBlock', 1, 2, 'joint', 16, 'diagonal'),
     r"td_order must be one of \('channel->spatial', "),
    (('BasicBlock', 1, 2, 'joint', 16, 'channel', 'wide'),
     r"td_widths must be one of \('code', 'paper'\), got 'wide'"),
])
def test_invalid_arguments_name_the_argument_and_its_values(args, match):
    with pytest.raises(ValueError, match=match):
        check_tdam_args(*args)


@pytest.mark.parametrize('steps', [0, 4, 1.0, True, None])
def test_steps_outside_one_to_t_are_refused(steps):
    with pytest.raises(ValueError,
                       match=r'steps must be an integer in \[1, 3\], got '):
        check_steps(steps, 3)


@pytest.mark.parametrize('block', [
    lambda: TDBottleneck(64, 16, num_steps=3, reduction=4),
    lambda: TDBasicBlock3d(16, 16, num_steps=3, reduction=4),
    lambda: TDConvNeXtBlock(16, num_steps=3, reduction=4),
    lambda: TDInvertedResidual(16, 16, 32, num_steps=3, reduction=4),
])
def test_every_host_block_refuses_a_step_past_t(block):
    blk = block().eval()
    shape = (1, 16, 2, 6, 6) if isinstance(blk, TDBasicBlock3d) else \
        (1, 64 if isinstance(blk, TDBottleneck) else 16, 6, 6)
    with pytest.raises(ValueError,
                       match=r'steps must be an integer in \[1, 3\], got 4'):
        blk.forward_to_step(torch.rand(*shape), 4)
