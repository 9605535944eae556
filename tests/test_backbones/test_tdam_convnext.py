"""TDAMConvNeXt: official parameter counts, mmpretrain layout and weights,
both pointwise-conv layouts, T = 1 equals the plain model, refusals."""

import pytest
import torch
import torch.nn as nn
from without_codebase import build_without

from td_plugins.models.backbones.tdam_convnext import (  # noqa: E402
    TDAMConvNeXt,
    TDConvNeXtBlock,
)

SMALL = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _plain(**kwargs):
    from mmpretrain.models.backbones import ConvNeXt
    return ConvNeXt(**kwargs)


@pytest.mark.parametrize('kwargs,expected', [
    # Spec 1.8: TD module 13 * dim^2 / 16 per block (dim*rd + 4dim*rd +
    # 2rd*4dim, rd = dim/16): 9 * 119,808 + 3 * 479,232 = 2,515,968.
    (dict(), 31_105_096),
    # TDtop: 5 * dim^2 / 16 per block.
    (dict(td_mode='top'), 29_556_808),
    # m = 2 (bottom = LN output, dim channels): dim^2 / 4 per block.
    (dict(feedback_distance=2), 29_363_272),
])
def test_convnext_tiny_parameter_counts(kwargs, expected):
    head = 768 * 1000 + 1000
    assert _count(_plain(arch='tiny')) + head == 28_589_128
    model = TDAMConvNeXt(arch='tiny', **kwargs)
    assert _count(model) + head == expected
    # The TD blocks add only the attention, no per-step norms.
    assert all('.td.' in n for n in model.td_parameter_names())
    assert _count(model) - _count(_plain(arch='tiny')) == sum(
        p.numel() for n, p in model.named_parameters() if '.td.' in n)


def test_td_sits_in_every_block_of_stages_3_and_4():
    model = TDAMConvNeXt(arch='tiny')
    block = TDConvNeXtBlock
    for i, stage in enumerate(model.stages):
        assert all(isinstance(b, block) == (i in (2, 3)) for b in stage)
    names = model.td_parameter_names()
    assert len(names) == (9 + 3) * 3
    assert 'stages.2.0.td.top_fc.weight' in names
    assert 'stages.3.2.td.bottom_fc.weight' in names
    assert tuple(model.stages[2][0].td.fuse.weight.shape) == (1536, 48, 1, 1)


@pytest.mark.parametrize('linear_pw_conv', [True, False])
@pytest.mark.parametrize('feedback_distance', [1, 2])
def test_odd_input_batch_one_and_all_stages(linear_pw_conv,
                                            feedback_distance):
    model = TDAMConvNeXt(arch=SMALL, td_stages=(0, 1, 2, 3),
                         out_indices=(0, 1, 2, 3),
                         gap_before_final_norm=False,
                         linear_pw_conv=linear_pw_conv,
                         feedback_distance=feedback_distance,
                         reduction=4).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 97, 61))
    assert [tuple(o.shape) for o in outs] == [
        (1, 16, 24, 15), (1, 32, 12, 7), (1, 64, 6, 3), (1, 128, 3, 1)]
    model = TDAMConvNeXt(arch=SMALL, linear_pw_conv=linear_pw_conv,
                         feedback_distance=feedback_distance).eval()
    with torch.no_grad():
        (out, ) = model(torch.rand(1, 3, 70, 129))
    assert tuple(out.shape) == (1, 128)


@pytest.mark.parametrize('kwargs', [dict(), dict(feedback_distance=2),
                                    dict(linear_pw_conv=False),
                                    dict(use_grn=True, num_steps=3)])
def test_every_parameter_gets_a_gradient_in_a_training_step(kwargs):
    # The default layer scale (1e-6) shrinks the residual-branch gradients
    # but does not zero them. With this small arch and r = 16 the attention
    # MLP has only 4 hidden units in stage 2, and at init all of them can be
    # negative for a batch (dead ReLU: no gradient to top_fc/bottom_fc; seen
    # with m = 2 and seed 0), so the test uses r = 4 (16 and 32 units).
    torch.manual_seed(0)
    model = TDAMConvNeXt(arch=SMALL, reduction=4, **kwargs)
    model.init_weights()
    model.train()
    (out, ) = model(torch.rand(2, 3, 64, 64))
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('linear_pw_conv', [True, False])
def test_plain_weights_load_with_exactly_the_td_parameters_missing(
        linear_pw_conv):
    plain = _plain(arch=SMALL, linear_pw_conv=linear_pw_conv)
    model = TDAMConvNeXt(arch=SMALL, linear_pw_conv=linear_pw_conv)
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert report.unexpected_keys == []
    assert set(report.missing_keys) == set(model.td_parameter_names())
    assert len(report.missing_keys) == 3 * 3  # stages 2 (2 blocks), 3 (1)


def test_mmpretrain_classifier_checkpoint_loads(tmp_path):
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')  # (earlier tests may leave another)
    head = dict(type='LinearClsHead', num_classes=10, in_channels=128)
    plain = MODELS.build(dict(type='ImageClassifier', head=head,
                              backbone=dict(type='ConvNeXt', arch=SMALL)))
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=plain.state_dict(), meta=dict()), path)
    model = MODELS.build(dict(
        type='ImageClassifier', head=head,
        backbone=dict(type='td_plugins.TDAMConvNeXt', arch=SMALL)))
    load_checkpoint(model, str(path), map_location='cpu', strict=False)
    loaded = model.state_dict()
    for key, value in plain.state_dict().items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    extra = set(loaded) - set(plain.state_dict())
    assert extra and all('.td.' in k for k in extra)


@pytest.mark.parametrize('linear_pw_conv', [True, False])
@pytest.mark.parametrize('feedback_distance', [1, 2])
def test_one_step_equals_the_plain_model(linear_pw_conv, feedback_distance):
    torch.manual_seed(0)
    # Layer scale 1: the residual branch counts fully in the comparison.
    common = dict(arch=SMALL, linear_pw_conv=linear_pw_conv,
                  layer_scale_init_value=1.0, out_indices=(0, 1, 2, 3))
    plain = _plain(**common)
    plain.eval()  # (mmpretrain's ConvNeXt.train returns None)
    one = TDAMConvNeXt(num_steps=1, feedback_distance=feedback_distance,
                       **common).eval()
    two = TDAMConvNeXt(num_steps=2, feedback_distance=feedback_distance,
                       **common).eval()
    one.load_state_dict(plain.state_dict(), strict=False)
    # T = 1 builds no attention: its state dict is the plain one.
    assert one.state_dict().keys() == plain.state_dict().keys()
    report = two.load_state_dict(one.state_dict(), strict=False)
    assert report.missing_keys and all('.td.' in k
                                       for k in report.missing_keys)
    x = torch.rand(2, 3, 64, 48)
    with torch.no_grad():
        ref, out1, out2 = plain(x), one(x), two(x)
    for a, b in zip(ref, out1):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(ref[1], out2[1])  # stages 0, 1: no TD
    assert not torch.allclose(ref[3], out2[3], atol=1e-4)


@pytest.mark.parametrize('feedback_distance', [1, 2])
@pytest.mark.parametrize('use_grn', [False, True])
def test_linear_and_conv_layouts_compute_the_same(feedback_distance,
                                                  use_grn):
    common = dict(arch=SMALL, feedback_distance=feedback_distance,
                  use_grn=use_grn, layer_scale_init_value=1.0, num_steps=3)
    torch.manual_seed(0)
    linear = TDAMConvNeXt(linear_pw_conv=True, **common).eval()
    conv = TDAMConvNeXt(linear_pw_conv=False, **common).eval()
    state = {}
    for key, value in linear.state_dict().items():
        if '.pointwise_conv' in key and key.endswith('weight'):
            value = value[:, :, None, None]
        state[key] = value
    conv.load_state_dict(state)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(linear(x)[0], conv(x)[0], rtol=1e-4,
                                   atol=1e-5)


def test_forward_steps_and_block_steps():
    model = TDAMConvNeXt(arch=SMALL, num_steps=3, out_indices=(2, 3),
                         layer_scale_init_value=1.0).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        steps = model.forward_steps(x)
        final = model(x)
    assert len(steps) == 3 and all(len(s) == 2 for s in steps)
    for a, b in zip(steps[-1], final):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(steps[0][0], final[0])  # stage 2 runs once
    assert not torch.allclose(steps[0][1], final[1])
    block = model.stages[3][0]
    with pytest.raises(ValueError, match=r'steps must be an integer in '
                       r'\[1, 3\], got 4'):
        block.forward_to_step(torch.rand(1, 128, 2, 2), 4)


def test_with_cp_frozen_stages_and_layer_depth():
    torch.manual_seed(0)
    model = TDAMConvNeXt(arch=SMALL, with_cp=True, frozen_stages=3).train()
    assert model.stages[2][0].with_cp
    assert not any(p.requires_grad for p in model.stages[2].parameters())
    assert all(p.requires_grad for p in model.stages[3].parameters())
    x = torch.rand(2, 3, 64, 64)
    model(x)[0].sum().backward()
    assert model.stages[3][0].td.fuse.weight.grad is not None
    assert model.get_layer_depth('stages.3.0.td.fuse.weight') == (6, 8)


def test_builds_from_mmpretrain_registry_and_is_a_convnext():
    from mmpretrain.models.backbones import ConvNeXt
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(type='td_plugins.TDAMConvNeXt', arch=SMALL,
                              feedback_distance=2, num_steps=3))
    assert isinstance(model, TDAMConvNeXt)
    assert isinstance(model, ConvNeXt)
    assert model.stages[3][0].num_steps == 3


def test_importing_the_package_does_not_need_mmpretrain():
    # The module subclasses mmpretrain at its top; without mmpretrain the
    # package imports and the name builds into an error naming it.
    assert build_without('mmpretrain', 'TDAMConvNeXt') == 'refused'


@pytest.mark.parametrize('kwargs,match', [
    (dict(feedback_distance=0),
     r'feedback_distance must be one of \(1, 2\) for ConvNeXt'),
    (dict(feedback_distance=3),
     r'feedback_distance must be one of \(1, 2\) for ConvNeXt'),
    (dict(num_steps=0), 'num_steps must be an integer >= 1, got 0'),
    (dict(td_mode='bottom'), r"td_mode must be one of \('joint', 'top'\)"),
    (dict(reduction=0), 'reduction must be a positive integer, got 0'),
    (dict(reduction=256), 'reduction 256 leaves no hidden channels'),
    (dict(td_stages=(4, )),
     r'td_stages must be a list of stage indices in \[0, 3\], got \(4,\)'),
    (dict(td_stages=2), r'td_stages must be a list of stage indices'),
    (dict(td_order='diagonal'), 'td_order must be one of'),
    (dict(td_widths='wide'), r"td_widths must be one of \('code', 'paper'\)"),
    (dict(arch='tinyy'), r"arch must be one of \('atto', "),
])
def test_invalid_arguments_are_refused_at_build(kwargs, match):
    args = dict(arch=SMALL)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TDAMConvNeXt(**args)
