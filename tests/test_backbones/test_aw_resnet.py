"""AWResNet: the paper's parameter counts (spec 3.4), torchvision layout,
shapes, gradients, refusals."""
import pytest
import torch

from td_plugins.models.backbones import AWResNet
from td_plugins.models.layers import AWConv2d


def _with_fc(model, classes=1000):
    return sum(p.numel() for p in model.parameters()) + 2048 * classes + \
        classes


@pytest.mark.parametrize('kwargs,classes,expected', [
    (dict(depth=50), 1000, 25_722_240),
    (dict(depth=50, attention='se'), 1000, 28_253_232),
    (dict(depth=50, attention='cbam-maxpool'), 1000, 28_253_232),
    (dict(depth=50, stem='cifar'), 100, 23_870_460),
    # The paper prints 44.95M for AW-ResNet-101; the spec's reading (AW on
    # the 3x3 convs only) gives this, see docs/aw.md.
    (dict(depth=101), 1000, 44_862_880),
])
def test_parameter_counts(kwargs, classes, expected):
    assert _with_fc(AWResNet(**kwargs), classes) == expected


def test_torchvision_weights_load_with_only_the_attention_missing():
    from torchvision.models import resnet50
    model = AWResNet(depth=50, attention='se')
    report = model.load_state_dict(resnet50().state_dict(), strict=False)
    assert set(report.unexpected_keys) == {'fc.weight', 'fc.bias'}
    assert report.missing_keys and all(
        '.conv2.attn_' in k or '.se.' in k for k in report.missing_keys)
    assert isinstance(model.layer2[0].conv2, AWConv2d)
    assert model.layer2[0].conv2.stride == (2, 2)


def test_cifar_stem_keeps_the_resolution():
    model = AWResNet(depth=50, stem='cifar', out_indices=(0, 3)).eval()
    with torch.no_grad():
        c1, c4 = model(torch.rand(1, 3, 32, 32))
    assert c1.shape == (1, 256, 32, 32) and c4.shape == (1, 2048, 4, 4)


def test_odd_input_batch_one_and_stage_choice():
    model = AWResNet(depth=50, aw_stages=(3, ), out_indices=(0, 1, 2, 3),
                     attention='cbam-spatial').eval()
    assert not isinstance(model.layer1[0].conv2, AWConv2d)
    assert isinstance(model.layer4[2].conv2, AWConv2d)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 97, 61))
    assert [o.shape[-2:] for o in outs] == [(25, 16), (13, 8), (7, 4), (4, 2)]


def test_every_parameter_gets_a_gradient():
    model = AWResNet(depth=50, attention='cbam-spatial',
                     zero_init_residual=False).train()
    model(torch.rand(2, 3, 64, 64))[-1].square().mean().backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing[:5]


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=18), r'depth must be one of \(50, 101, 152\)'),
    (dict(attention='eca'), r"attention must be one of \(None, 'se', "),
    (dict(stem='tiny'), r"stem must be one of \('imagenet', 'cifar'\)"),
    (dict(aw_stages=(4, )), r'aw_stages must be stage indices in \[0, 3\]'),
    (dict(aw_reduction=4096), r'reduction \(4096\) must not exceed'),
    (dict(attention='se', attention_reduction=0),
     'reduction must be an integer in'),
])
def test_invalid_arguments_are_refused_at_build(kwargs, match):
    args = dict(depth=50)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        AWResNet(**args)
