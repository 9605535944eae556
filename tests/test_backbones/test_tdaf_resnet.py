"""TDAFResNet: torchvision layout, identity init, flows, arguments."""
import pytest
import torch
from torchvision.models import resnet18

from td_plugins.models.backbones import TDAFResNet


def _plain_features(net, x):
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    outs = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = layer(x)
        outs.append(x)
    return outs


@pytest.fixture(scope='module')
def plain():
    torch.manual_seed(0)
    net = resnet18()
    with torch.no_grad():  # non-trivial BN statistics and affines
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


def test_resnet_weights_load_and_identity_init_gives_equal_outputs(plain):
    model = TDAFResNet(depth=18, num_flows=3, anar=5).eval()
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert set(report.unexpected_keys) == {'fc.weight', 'fc.bias'}
    assert report.missing_keys and all(
        k.startswith('r2dns.') for k in report.missing_keys)
    assert set(report.missing_keys) == {
        k for k in model.state_dict() if k.startswith('r2dns.')}
    x = torch.rand(2, 3, 96, 80)
    with torch.no_grad():
        ours = model(x)
        ref = _plain_features(plain, x)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_resnext_takes_torchvision_resnext_weights():
    from torchvision.models import resnext50_32x4d
    torch.manual_seed(0)
    plain = resnext50_32x4d().eval()
    model = TDAFResNet(depth=50, groups=32, width_per_group=4).eval()
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert set(report.unexpected_keys) == {'fc.weight', 'fc.bias'}
    assert all(k.startswith('r2dns.') for k in report.missing_keys)
    assert model.layer2[0].conv2.groups == 32
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], _plain_features(plain, x)[-1],
                                   rtol=1e-4, atol=1e-4)


def test_trained_anar_changes_the_output(plain):
    model = TDAFResNet(depth=18, zero_init_anar=False).eval()
    model.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(x)[-1], _plain_features(plain, x)[-1])


def test_odd_input_and_out_indices():
    model = TDAFResNet(depth=18, num_flows=4, out_indices=(1, 3)).eval()
    outs = model(torch.rand(1, 3, 223, 257))
    assert [tuple(o.shape) for o in outs] == [(1, 128, 28, 33),
                                              (1, 512, 7, 9)]


def test_bottleneck_channels_and_anar_parameters():
    model = TDAFResNet(depth=50, anar=3)
    assert model.stage_channels == [256, 512, 1024, 2048]
    # Naive Table 1 count for ANAR-3 on c = 256, 512, 1024 (spec 2.7).
    assert sum(p.numel() for p in model.r2dns.parameters()) == 258_667


def test_every_parameter_gets_a_gradient():
    model = TDAFResNet(depth=18, zero_init_anar=False).train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.pow(2).mean() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_frozen_stages_and_norm_eval():
    model = TDAFResNet(depth=18, frozen_stages=1, norm_eval=True).train()
    assert not model.conv1.weight.requires_grad
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.layer3[0].bn1.training
    assert model.r2dns.anars[0].trans.training


def test_builds_from_a_codebase_registry():
    pytest.importorskip('mmdet')
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    model = MODELS.build(dict(type='td_plugins.TDAFResNet', depth=18,
                              num_flows=2, anar=7))
    assert isinstance(model, TDAFResNet) and model.r2dns.num_flows == 2


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=20), r'depth must be one of \(18, 34, 50, 101, 152\)'),
    (dict(num_flows=0), r'num_flows must be an integer in \[1, 4\]'),
    (dict(num_flows=5), r'num_flows must be an integer in \[1, 4\]'),
    (dict(anar=4), r'depth \(anar\) must be one of \(3, 5, 7\)'),
    (dict(eta=2.0), r'eta must be a number in \[0, 1\]'),
    (dict(dsf='max'), r"dsf must be one of \('avg_pool', 'linear'\)"),
    (dict(out_indices=(4, )), r'out_indices must be stage indices'),
    (dict(frozen_stages=7), r'frozen_stages must be an integer in \[-1, 4\]'),
    (dict(groups=0), 'groups must be a positive integer'),
    (dict(groups=32, width_per_group=4),
     'groups and width_per_group must be 1 and 64 for depth 18'),
])
def test_invalid_arguments_are_refused_at_build(kwargs, match):
    args = dict(depth=18)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TDAFResNet(**args)
