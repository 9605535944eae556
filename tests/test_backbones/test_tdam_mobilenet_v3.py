"""TDAMMobileNetV3: TDAM replaces the SE of the last three SE layers;
parameter counts, mmpretrain weights, T = 1 equals MobileNetV3 without those
SE modules, refusals."""

import pytest
import torch
import torch.nn as nn
from without_codebase import build_without

from td_plugins.models.backbones.tdam_mobilenet_v3 import (  # noqa: E402
    TDAMMobileNetV3,
    TDInvertedResidual,
    se_layers,
)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _plain(**kwargs):
    from mmpretrain.models.backbones import MobileNetV3
    return MobileNetV3(**kwargs)


# SE of layers 13 (672 ch), 14, 15 (960 ch): 226,632 + 2 * 462,000.
SE_PARAMS = 1_150_632
# TDjoint, rd = 160 // 16 = 10: 160*10 + C0*10 + 20*C0, C0 = 672, 960, 960,
# plus one per-step BN(160) per layer at T = 2.
TD_JOINT = (1600 + 6720 + 13440) + 2 * (1600 + 9600 + 19200) + 3 * 320


@pytest.mark.parametrize('kwargs,added', [
    (dict(), TD_JOINT),  # 83,520
    (dict(td_mode='top'), (1600 + 6720) + 2 * (1600 + 9600) + 3 * 320),
    # eq. 4 widths: bottom branch C0 // 16 = 42, 60, 60 hidden units.
    (dict(td_widths='paper'),
     (1600 + 672 * 42 + 52 * 672) + 2 * (1600 + 960 * 60 + 70 * 960)
     + 3 * 320),
    # m = 2: the depthwise conv's BN too, per step.
    (dict(feedback_distance=2), TD_JOINT + (672 + 2 * 960) * 2),
    (dict(num_steps=3), TD_JOINT + 3 * 320),
])
def test_large_parameter_counts(kwargs, added):
    assert _count(_plain(arch='large')) == 2_971_952
    model = TDAMMobileNetV3(**kwargs)
    assert _count(model) == 2_971_952 - SE_PARAMS + added
    if not kwargs:
        assert _count(model) == 1_904_840


def test_td_replaces_the_se_of_the_last_three_se_layers():
    model = TDAMMobileNetV3()
    assert model.td_layers == (13, 14, 15)
    block = TDInvertedResidual
    for i in range(1, 16):
        layer = getattr(model, f'layer{i}')
        assert isinstance(layer, block) == (i in (13, 14, 15))
        assert hasattr(layer, 'se') == (i in (4, 5, 6, 11, 12))
    assert model.layer13.td.bottom_fc.in_channels == 672
    assert model.layer15.td.top_fc.in_channels == 160
    assert isinstance(model.layer15.linear_conv_bn_1, nn.BatchNorm2d)
    assert se_layers(model.arch_settings['small'])[-3:] == (9, 10, 11)
    assert TDAMMobileNetV3(arch='small').td_layers == (9, 10, 11)


@pytest.mark.parametrize('kwargs', [dict(), dict(feedback_distance=2),
                                    dict(td_layers=(4, 11, 15),
                                         num_steps=3)])
def test_odd_input_batch_one(kwargs):
    model = TDAMMobileNetV3(out_indices=(4, 12, 13, 15, 16), **kwargs)
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 97, 61))
    assert [tuple(o.shape) for o in outs] == [
        (1, 40, 13, 8), (1, 112, 7, 4), (1, 160, 4, 2), (1, 160, 4, 2),
        (1, 960, 4, 2)]


@pytest.mark.parametrize('kwargs', [dict(), dict(feedback_distance=2),
                                    dict(td_mode='top', num_steps=3),
                                    dict(arch='small')])
def test_every_parameter_gets_a_gradient_in_a_training_step(kwargs):
    torch.manual_seed(0)
    model = TDAMMobileNetV3(**kwargs)
    model.init_weights()
    model.train()
    (out, ) = model(torch.rand(2, 3, 64, 64))
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_plain_weights_load_with_exactly_the_td_parameters_missing():
    plain_state = _plain(arch='large').state_dict()
    model = TDAMMobileNetV3(num_steps=3)
    report = model.load_state_dict(plain_state, strict=False)
    # The replaced SE weights are dropped, not reported.
    assert report.unexpected_keys == []
    td_buffers = {k for k in model.state_dict()
                  if '_bn_' in k and k.rsplit('.', 1)[1] in
                  ('running_mean', 'running_var')}
    assert set(report.missing_keys) == \
        set(model.td_parameter_names()) | td_buffers
    assert len(model.td_parameter_names()) == 3 * (3 + 2 * 2)
    assert any(k.startswith('layer13.se.') for k in plain_state)  # intact
    own = model.state_dict()
    for key, value in plain_state.items():
        if '.se.' not in key:
            torch.testing.assert_close(own[key], value, rtol=0, atol=0)


def test_mmpretrain_classifier_checkpoint_loads(tmp_path):
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')  # (earlier tests may leave another)
    head = dict(type='LinearClsHead', num_classes=10, in_channels=960)
    neck = dict(type='GlobalAveragePooling')
    plain = MODELS.build(dict(
        type='ImageClassifier', neck=neck, head=head,
        backbone=dict(type='MobileNetV3', arch='large')))
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=plain.state_dict(), meta=dict()), path)
    model = MODELS.build(dict(
        type='ImageClassifier', neck=neck, head=head,
        backbone=dict(type='td_plugins.TDAMMobileNetV3')))
    # strict=True: mmengine loads, then raises with its mismatch report.
    with pytest.raises(RuntimeError) as info:
        load_checkpoint(model, str(path), map_location='cpu', strict=True)
    report = str(info.value)
    assert 'unexpected key' not in report, report
    listed = report.split('missing keys in source state_dict: ')[1]
    assert {k.strip() for k in listed.split(',')} == {
        k for k in model.state_dict() if k not in plain.state_dict()
        and not k.endswith('num_batches_tracked')}
    assert all('.td.' in k or '.linear_conv_bn_1.' in k
               for k in listed.split(','))
    own = model.state_dict()
    for key, value in plain.state_dict().items():
        if not key.startswith(('backbone.layer13.se.',
                               'backbone.layer14.se.',
                               'backbone.layer15.se.')):
            torch.testing.assert_close(own[key], value, rtol=0, atol=0)


def test_one_step_equals_mobilenet_v3_without_those_se():
    torch.manual_seed(0)
    plain = _plain(arch='large', out_indices=(12, 16))
    one = TDAMMobileNetV3(num_steps=1, out_indices=(12, 16))
    one.load_state_dict(plain.state_dict(), strict=False)
    for i in (13, 14, 15):
        layer = getattr(plain, f'layer{i}')
        layer.with_se = False
        del layer.se
    # Train mode: BN normalises with batch statistics. (With the untrained
    # running statistics the eval-mode outputs are ~1e-10, too small for a
    # meaningful comparison.)
    plain.train()
    one.train()
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        for a, b in zip(plain(x), one(x)):
            torch.testing.assert_close(a, b)


def test_forward_steps():
    model = TDAMMobileNetV3(num_steps=3, out_indices=(12, 16))
    model.train()  # batch statistics (see the test above)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        steps = model.forward_steps(x)
        final = model(x)
    assert len(steps) == 3
    for a, b in zip(steps[-1], final):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(steps[0][0], final[0])  # before layer 15
    assert (steps[0][1] - final[1]).abs().max() > 1e-2


def test_with_cp_and_norm_eval():
    model = TDAMMobileNetV3(with_cp=True, norm_eval=True, frozen_stages=13)
    model.train()
    assert not model.layer15.linear_conv_bn_1.training
    assert not any(p.requires_grad for p in model.layer13.parameters())
    x = torch.rand(2, 3, 64, 64)
    model(x)[0].sum().backward()
    assert model.layer15.td.fuse.weight.grad is not None


def test_builds_from_mmpretrain_registry_and_is_a_mobilenet_v3():
    from mmpretrain.models.backbones import MobileNetV3
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(type='td_plugins.TDAMMobileNetV3',
                              td_mode='top', td_layers=[14, 15]))
    assert isinstance(model, TDAMMobileNetV3)
    assert isinstance(model, MobileNetV3)
    assert model.td_layers == (14, 15) and hasattr(model.layer13, 'se')


def test_importing_the_package_does_not_need_mmpretrain():
    # The module subclasses mmpretrain at its top; without mmpretrain the
    # package imports and the name builds into an error naming it.
    assert build_without('mmpretrain', 'TDAMMobileNetV3') == 'refused'


@pytest.mark.parametrize('kwargs,match', [
    (dict(arch='medium'),
     r"arch must be one of \('small', 'small_075', 'small_050', 'large'\)"),
    (dict(td_layers=(7, )),
     r"td_layers must be a list of indices of the SE layers of arch "
     r"'large', \(4, 5, 6, 11, 12, 13, 14, 15\), got \(7,\)"),
    (dict(td_layers=(16, )), 'td_layers must be a list of indices'),
    (dict(td_layers=15), 'td_layers must be a list of indices'),
    (dict(feedback_distance=0),
     r'feedback_distance must be one of \(1, 2\) for MobileNetV3'),
    (dict(feedback_distance=3),
     r'feedback_distance must be one of \(1, 2\) for MobileNetV3'),
    (dict(num_steps=0), 'num_steps must be an integer >= 1, got 0'),
    (dict(td_mode='bottom'), r"td_mode must be one of \('joint', 'top'\)"),
    (dict(reduction=0), 'reduction must be a positive integer, got 0'),
    (dict(reduction=200), 'reduction 200 leaves no hidden channels'),
    (dict(td_order='diagonal'), 'td_order must be one of'),
    (dict(td_widths='wide'), r"td_widths must be one of \('code', 'paper'\)"),
])
def test_invalid_arguments_are_refused_at_build(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TDAMMobileNetV3(**kwargs)
