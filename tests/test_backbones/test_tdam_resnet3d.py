"""TDAMResNet3d: mmaction ResNet3d layout, TD parameter count, plain weights,
2D inflation, T = 1 equals the plain network, gradients, refusals."""
import re
from typing import Set

import pytest
import torch

pytest.importorskip('mmaction')
from mmaction.models.backbones.resnet3d import ResNet3d  # noqa: E402

from td_plugins.models.backbones.tdam_resnet3d import (  # noqa: E402
    TDAMResNet3d,
    TDBasicBlock3d,
    TDBottleneck3d,
)

TD_KEY = re.compile(r'\.td\.|\.bn\d_\d+\.')


def _td_keys(model: torch.nn.Module) -> Set[str]:
    # (BN's num_batches_tracked is never reported missing by PyTorch.)
    return {k for k in model.state_dict() if TD_KEY.search(k)
            and not k.endswith('num_batches_tracked')}


def _randomise_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN affine and statistics, so eval outputs mean something
    (and zero_init_residual's zeros do not hide a residual branch)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith(('running_mean', '.bias')):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) - 0.5)
            elif name.endswith(('running_var', 'bn.weight')) or re.search(
                    r'bn\d_\d+\.weight$', name):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)


@pytest.mark.parametrize('depth,size,out_indices', [
    (18, (2, 3, 8, 64, 64), (3, )),
    (50, (2, 3, 8, 64, 64), (3, )),
    (18, (1, 3, 7, 49, 57), (0, 1, 2, 3)),
    (50, (1, 3, 5, 33, 47), (2, 3)),
])
def test_output_shapes_match_plain_resnet3d(depth, size, out_indices):
    kwargs = dict(depth=depth, pretrained=None, out_indices=out_indices)
    model = TDAMResNet3d(**kwargs)
    model.init_weights()
    plain = ResNet3d(**kwargs)
    model.eval()  # (ResNet3d.train returns None: no chaining)
    plain.eval()
    x = torch.rand(*size)
    with torch.no_grad():
        out = model(x)
        ref = plain(x)
    if len(out_indices) == 1:
        out, ref = (out, ), (ref, )
    assert [o.shape for o in out] == [r.shape for r in ref]
    if size == (2, 3, 8, 64, 64):
        channels = 512 if depth == 18 else 2048
        assert out[-1].shape == (2, channels, 4, 2, 2)
    assert all(torch.isfinite(o).all() for o in out)


def test_parameter_count_r50_joint_m1_t2_is_plain_plus_td():
    model = TDAMResNet3d(depth=50, pretrained=None, td_mode='joint',
                         feedback_distance=1, num_steps=2)
    plain = ResNet3d(depth=50, pretrained=None)

    def count(m):
        return sum(p.numel() for p in m.parameters())

    # Per TD block (m=1): bottom = conv2 output (C0 = planes), top = conv3
    # output (CN = 4 planes), rd = CN // 16; kernel volume 1 (1x1x1).
    expected_td = 0
    for planes, blocks in ((256, 6), (512, 3)):  # layer3, layer4
        c0, cn = planes, 4 * planes
        rd = cn // 16
        attention = cn * rd + c0 * rd + 2 * rd * c0
        step_bn = 2 * cn  # bn3_1 weight + bias
        expected_td += blocks * (attention + step_bn) * 1
    assert expected_td == 2_088_960  # == the 2D count (spec section 1.8)
    assert count(plain) == 32_185_792
    assert count(model) == count(plain) + expected_td == 34_274_752
    names = model.td_parameter_names()
    td_numel = sum(p.numel() for n, p in model.named_parameters()
                   if n in set(names['attention'] + names['step_norms']))
    assert td_numel == expected_td
    assert model.td_blocks == [[], [], [0, 1, 2, 3, 4, 5], [0, 1, 2]]


def test_resnet101_official_blocks():
    model = TDAMResNet3d(depth=101, pretrained=None)
    assert model.td_blocks == [[], [], [0, 1, 2, 8, 13, 18, 22], [0, 1, 2]]
    td_bottleneck = TDBottleneck3d
    n_td = sum(isinstance(m, td_bottleneck) for m in model.modules())
    assert n_td == 10


@pytest.mark.parametrize('depth,m', [(50, 1), (50, 3), (18, 2)])
def test_plain_state_dict_loads_with_exactly_td_missing(depth, m):
    plain = ResNet3d(depth=depth, pretrained=None)
    model = TDAMResNet3d(depth=depth, pretrained=None, feedback_distance=m)
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert not report.unexpected_keys
    assert set(report.missing_keys) == _td_keys(model)
    names = model.td_parameter_names()
    assert set(names['attention']) | set(names['step_norms']) == {
        k for k in report.missing_keys
        if k.endswith(('.weight', '.bias'))}
    # Nothing else was renamed: every plain key exists with the same shape.
    td_state = model.state_dict()
    for k, v in plain.state_dict().items():
        assert td_state[k].shape == v.shape, k


# (m = 0 attends T >= 1 times, so its T = 1 is not the plain network:
# test_m0_applies_the_attention_t_times.)
@pytest.mark.parametrize('depth,m', [(50, 1), (50, 2), (18, 2)])
def test_one_step_equals_plain_resnet3d(depth, m):
    torch.manual_seed(0)
    plain = ResNet3d(depth=depth, pretrained=None)
    plain.init_weights()
    _randomise_norms(plain)
    model = TDAMResNet3d(depth=depth, pretrained=None, num_steps=1,
                         feedback_distance=m)
    model.init_weights()
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert set(report.missing_keys) == _td_keys(model)
    # T = 1 with m >= 1: no per-step norms and no attention module.
    assert not report.missing_keys
    x = torch.rand(2, 3, 6, 40, 48)
    model.eval()
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-5, atol=1e-5)


def test_init_weights_zero_init_residual_and_kaiming():
    model = TDAMResNet3d(depth=50, pretrained=None)  # zero_init_residual
    model.init_weights()
    block = model.layer3[0]
    # Official zero_init_last_bn: only the step-0 last norm is zeroed; the
    # per-step norm keeps weight 1 (spec 1.9 item 6).
    assert torch.count_nonzero(block.conv3.bn.weight) == 0
    assert torch.all(block.bn3_1.weight == 1)
    assert torch.all(block.bn3_1.bias == 0)
    for conv in (block.td.top_fc, block.td.bottom_fc, block.td.fuse):
        assert isinstance(conv, torch.nn.Conv3d)
        assert conv.weight.shape[2:] == (1, 1, 1)
        # Kaiming normal, fan_out: std = sqrt(2 / out_channels).
        std = (2.0 / conv.out_channels)**0.5
        assert 0.7 * std < conv.weight.std().item() < 1.3 * std


def test_2d_torchvision_weights_inflate(tmp_path):
    from torchvision.models import resnet50
    torch.manual_seed(0)
    net2d = resnet50()
    _randomise_norms(net2d, seed=1)
    path = tmp_path / 'r50.pth'
    torch.save(net2d.state_dict(), path)
    model = TDAMResNet3d(depth=50, pretrained=str(path), pretrained2d=True)
    model.init_weights()
    # Convs and step-0 norms inflated as mmaction does.
    w2d = net2d.layer3[0].conv2.weight
    w3d = model.layer3[0].conv2.conv.weight
    torch.testing.assert_close(
        w3d, w2d.unsqueeze(2).expand_as(w3d) / w3d.shape[2])
    w2d = net2d.layer3[1].conv1.weight  # inflated 3x1x1
    w3d = model.layer3[1].conv1.conv.weight
    assert w3d.shape[2] == 3
    torch.testing.assert_close(
        w3d, w2d.unsqueeze(2).expand_as(w3d) / 3)
    torch.testing.assert_close(model.conv1.conv.weight.sum(2),
                               net2d.conv1.weight)
    # Per-step norms copied from the 2D step-0 norm (bn3).
    for stage, n in ((3, 6), (4, 3)):
        for i in range(n):
            bn2d = getattr(net2d, f'layer{stage}')[i].bn3
            blk = getattr(model, f'layer{stage}')[i]
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                torch.testing.assert_close(getattr(blk.bn3_1, name),
                                           getattr(bn2d, name))
                torch.testing.assert_close(getattr(blk.conv3.bn, name),
                                           getattr(bn2d, name))
    # The attention has no 2D counterpart: Kaiming init, not zeros.
    assert model.layer4[2].td.fuse.weight.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 4, 64, 64))
    assert out.shape == (1, 2048, 2, 2, 2) and torch.isfinite(out).all()


def test_2d_tdam_checkpoint_inflates_attention_and_step_norms(tmp_path):
    from td_plugins.models.backbones.tdam_resnet import TDAMResNet
    torch.manual_seed(0)
    net2d = TDAMResNet(depth=18, feedback_distance=1)
    _randomise_norms(net2d, seed=2)
    path = tmp_path / 'tdam_r18.pth'
    torch.save({'state_dict': net2d.state_dict()}, path)
    model = TDAMResNet3d(depth=18, pretrained=str(path), pretrained2d=True,
                         feedback_distance=1)
    model.init_weights()
    for stage in (3, 4):
        for i in range(2):
            blk2d = getattr(net2d, f'layer{stage}')[i]
            blk3d = getattr(model, f'layer{stage}')[i]
            for name in ('top_fc', 'bottom_fc', 'fuse'):
                w2d = getattr(blk2d.td, name).weight
                torch.testing.assert_close(
                    getattr(blk3d.td, name).weight, w2d.unsqueeze(2))
            torch.testing.assert_close(blk3d.bn2_1.running_var,
                                       blk2d.bn2_1.running_var)
            torch.testing.assert_close(blk3d.bn2_1.weight,
                                       blk2d.bn2_1.weight)


def test_plain_3d_checkpoint_fills_step_norms_from_step0(tmp_path):
    plain = ResNet3d(depth=18, pretrained=None)
    plain.init_weights()
    _randomise_norms(plain, seed=3)
    path = tmp_path / 'r3d18.pth'
    torch.save(plain.state_dict(), path)
    model = TDAMResNet3d(depth=18, pretrained=str(path), pretrained2d=False,
                         feedback_distance=2)
    model.init_weights()
    blk = model.layer4[1]
    torch.testing.assert_close(blk.conv2.conv.weight,
                               plain.layer4[1].conv2.conv.weight)
    torch.testing.assert_close(blk.bn1_1.weight,
                               plain.layer4[1].conv1.bn.weight)
    torch.testing.assert_close(blk.bn2_1.running_mean,
                               plain.layer4[1].conv2.bn.running_mean)


@pytest.mark.parametrize('depth,mode,m,steps', [
    (50, 'joint', 1, 2), (50, 'top', 0, 2), (50, 'joint', 2, 3),
    (50, 'joint', 3, 2), (18, 'joint', 1, 2), (18, 'top', 2, 3)])
def test_every_parameter_gets_a_gradient(depth, mode, m, steps):
    # zero_init_residual=False: with ResNet3d's zero init (weight 0 and bias
    # 0 of the step-0 last BN) the first top of a TD block is the zero map,
    # so top_fc gets a zero input and ReLU'(0) = 0 blocks the way back:
    # td.top_fc.weight, conv3.bn.weight and conv3.bn.bias (conv2.bn for
    # BasicBlock3d) get an exactly-zero gradient at init, as do all branch
    # parameters of the plain blocks of layer1/layer2 (the usual effect of
    # zero init). An init choice, not a disconnected parameter.
    torch.manual_seed(0)
    model = TDAMResNet3d(depth=depth, pretrained=None, td_mode=mode,
                         feedback_distance=m, num_steps=steps,
                         zero_init_residual=False)
    model.init_weights()
    model.train()
    out = model(torch.rand(2, 3, 4, 32, 32))
    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_forward_steps_and_checkpointing():
    torch.manual_seed(0)
    model = TDAMResNet3d(depth=18, pretrained=None, num_steps=3,
                         zero_init_residual=False)
    model.init_weights()
    _randomise_norms(model)
    model.eval()
    x = torch.rand(1, 3, 4, 48, 48)
    with torch.no_grad():
        outs = model.forward_steps(x)
        full = model(x)
    assert len(outs) == 3
    torch.testing.assert_close(outs[-1][-1], full)
    assert not torch.allclose(outs[0][-1], outs[-1][-1])
    with pytest.raises(ValueError,
                       match=r'steps must be an integer in \[1, 3\]'):
        model.layer4[0].forward_to_step(torch.rand(1, 256, 2, 6, 6), 4)

    cp_model = TDAMResNet3d(depth=18, pretrained=None, num_steps=3,
                            zero_init_residual=False, with_cp=True)
    cp_model.load_state_dict(model.state_dict())
    cp_model.eval()
    xg = x.clone().requires_grad_()
    out_cp = cp_model(xg)
    torch.testing.assert_close(out_cp, full)
    out_cp.sum().backward()
    assert cp_model.layer4[1].td.fuse.weight.grad is not None


def test_norm_eval_and_frozen_stages_cover_td_parts():
    model = TDAMResNet3d(depth=18, pretrained=None, norm_eval=True,
                         frozen_stages=4)
    model.init_weights()
    model.train()
    assert not model.layer4[1].bn2_1.training
    assert not any(p.requires_grad for p in model.layer4[1].td.parameters())
    assert not model.layer3[0].bn2_1.weight.requires_grad


def test_builds_from_mmaction_registry():
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    model = MODELS.build(dict(type='td_plugins.TDAMResNet3d', depth=18,
                              pretrained=None, feedback_distance=2,
                              num_steps=2, td_blocks=[[], [1], [], [0]]))
    assert isinstance(model, ResNet3d)
    td_basic = TDBasicBlock3d
    assert [name for name, m in model.named_modules()
            if isinstance(m, td_basic)] == ['layer2.1', 'layer4.0']
    assert model.layer2[1].feedback_distance == 2


@pytest.mark.parametrize('kwargs,message', [
    (dict(depth=18, feedback_distance=3),
     r'feedback_distance must be one of \(0, 1, 2\) for BasicBlock3d '
     r'\(depth 18\), got 3'),
    (dict(depth=34, feedback_distance=-1),
     r'feedback_distance must be one of \(0, 1, 2\)'),
    (dict(depth=50, feedback_distance=4),
     r'feedback_distance must be one of \(0, 1, 2, 3\) for Bottleneck3d'),
    (dict(depth=50, num_steps=0), r'num_steps must be an integer >= 1'),
    (dict(depth=50, num_steps=True), r'num_steps must be an integer >= 1'),
    (dict(depth=50, td_mode='bottom'), r"td_mode must be one of"),
    (dict(depth=50, td_order='diagonal'), r'td_order must be one of'),
    (dict(depth=50, td_widths='x'), r'td_widths must be one of'),
    (dict(depth=50, reduction=0), r'reduction must be a positive integer'),
    (dict(depth=20), r'depth must be one of \(18, 34, 50, 101, 152\)'),
    (dict(depth=50, td_stages=(4, )),
     r'td_stages must be stage indices in \[0, 3\]'),
    (dict(depth=50, td_blocks=[[], [], [6], []]),
     r'td_blocks must be 4 lists of block indices, one per stage, within '
     r'\[0, 2\], \[0, 3\], \[0, 5\], \[0, 2\]'),
    (dict(depth=50, td_blocks=[[], [], [0]]), r'td_blocks must be 4 lists'),
    (dict(depth=18, td_blocks=[[], [], [-1], []]), r'td_blocks must be'),
])
def test_invalid_arguments_refused_at_build(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TDAMResNet3d(pretrained=None, **kwargs)


def test_td_blocks_refuse_invalid_arguments_standalone():
    td_basic, td_bottleneck = TDBasicBlock3d, TDBottleneck3d
    with pytest.raises(ValueError, match='for BasicBlock3d, got 3'):
        td_basic(64, 64, feedback_distance=3)
    with pytest.raises(ValueError, match='num_steps must be an integer'):
        td_bottleneck(256, 64, num_steps=0)
    blk = td_bottleneck(256, 64, feedback_distance=3, num_steps=3).eval()
    names = {n for n, _ in blk.named_children()}
    assert {'bn1_1', 'bn2_1', 'bn3_1', 'bn1_2', 'bn2_2', 'bn3_2'} <= names
    with torch.no_grad():
        assert blk(torch.rand(1, 256, 3, 7, 5)).shape == (1, 256, 3, 7, 5)


@pytest.mark.parametrize('kind', ['basic', 'bottleneck'])
@pytest.mark.parametrize('steps', [1, 2, 3])
def test_m0_applies_the_attention_t_times(kind, steps):
    """As the 2D blocks and the official ``_static_recur_attention_forward_
    m0``: T attentions on the top map at m = 0 (T - 1 at m >= 1)."""
    td_basic, td_bottleneck = TDBasicBlock3d, TDBottleneck3d
    cls, planes = (td_basic, 64) if kind == 'basic' else (td_bottleneck, 16)
    x = torch.rand(1, 64, 2, 5, 5)
    for m, expected in ((0, steps), (1, steps - 1)):
        blk = cls(64, planes, feedback_distance=m, num_steps=steps,
                  reduction=4).eval()
        if expected == 0:
            assert blk.td is None
            continue
        calls = []
        blk.td.register_forward_hook(lambda *args: calls.append(1))
        with torch.no_grad():
            out = blk(x)
        assert len(calls) == expected, (m, steps)
        if m == 0:
            with torch.no_grad():
                top = (blk.conv2(blk.conv1(x)) if kind == 'basic' else
                       blk.conv3(blk.conv2(blk.conv1(x))))
                for _ in range(steps):
                    top = blk.td(top, top)
                torch.testing.assert_close(out, torch.relu(top + x))
