"""TDAFResNet: torchvision layout, identity init, flows, arguments."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm
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
    # Like any torch BN, a norm whose entries carry no version metadata gets
    # its num_batches_tracked filled in instead of reported missing.
    assert set(report.missing_keys) == {
        k for k in model.state_dict() if k.startswith('r2dns.') and
        not k.endswith('num_batches_tracked')}
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


def _norms(module):
    return {name: m for name, m in module.named_modules()
            if isinstance(m, _BatchNorm)}


def _stats(norms):
    return {name: (m.running_mean.clone(), m.num_batches_tracked.clone())
            for name, m in norms.items()}


def test_frozen_stages_and_norm_eval():
    model = TDAFResNet(depth=18, frozen_stages=1, norm_eval=True).train()
    assert not model.conv1.weight.requires_grad
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    pretrained = {k: m for k, m in _norms(model).items()
                  if not k.startswith('r2dns.')}
    anar_norms = _norms(model.r2dns)
    assert len(pretrained) == 20 and len(anar_norms) == 3 * 2  # ANAR-3
    assert not any(m.training for m in pretrained.values())
    assert all(m.training for m in anar_norms.values())
    # A training step: the ANARs' norms (never pretrained) learn their
    # statistics, the pretrained norms keep theirs.
    before_p, before_a = _stats(pretrained), _stats(anar_norms)
    model(torch.rand(2, 3, 64, 64) * 3 + 1)
    for name, (mean, count) in _stats(pretrained).items():
        assert torch.equal(mean, before_p[name][0]), name
        assert torch.equal(count, before_p[name][1]), name
    for name, (mean, count) in _stats(anar_norms).items():
        assert not torch.equal(mean, before_a[name][0]), name
        # ANAR i reads flows 0..1 (stages 0, 1) or flow 1 (stage 2), N = 3.
        assert count.sum() > before_a[name][1].sum(), name


def test_anar_norm_eval_freezes_the_anar_norms_too():
    model = TDAFResNet(depth=18, norm_eval=True, anar_norm_eval=True).train()
    assert not any(m.training for m in _norms(model).values())
    assert TDAFResNet(depth=18).train().r2dns.anars[0].trans_norm.training


def _grads_and_state(model, x):
    outs = model(x)
    sum((o * torch.linspace(-1, 1, o.shape[1]).view(1, -1, 1, 1)).square()
        .mean() for o in outs).backward()
    return ([o.detach() for o in outs],
            {k: p.grad.clone() for k, p in model.named_parameters()},
            {k: b.clone() for k, b in model.named_buffers()})


def test_with_cp_equals_without(monkeypatch):
    from td_plugins.models.layers import tdaf_flow_blocks as flow_blocks
    calls = []
    checkpoint = flow_blocks.checkpoint_keep_stats

    def counting(*args, **kwargs):
        calls.append(args[2])  # the flow it captured
        return checkpoint(*args, **kwargs)

    monkeypatch.setattr(flow_blocks, 'checkpoint_keep_stats', counting)
    torch.manual_seed(0)
    ref = TDAFResNet(depth=18, zero_init_anar=False).train()
    cp = TDAFResNet(depth=18, zero_init_anar=False, with_cp=True).train()
    cp.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 64, 64)
    outs_a, grads_a, bufs_a = _grads_and_state(ref, x)
    outs_b, grads_b, bufs_b = _grads_and_state(cp, x)
    # 8 blocks; flows 0, 1, 2 run 2, 3, 4 stages of 2 blocks each.
    assert sorted(calls) == [0] * 4 + [1] * 6 + [2] * 8
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(b, a, rtol=0, atol=0)
    assert grads_a.keys() == grads_b.keys()
    for key in grads_a:
        torch.testing.assert_close(grads_b[key], grads_a[key], rtol=0,
                                   atol=0, msg=key)
    for key in bufs_a:  # running statistics: every flow counted once
        torch.testing.assert_close(bufs_b[key], bufs_a[key], rtol=0, atol=0,
                                   msg=key)
    assert bufs_b['layer4.0.bn1.num_batches_tracked'].tolist() == [0, 0, 1]
    assert bufs_b['layer1.0.bn1.num_batches_tracked'].tolist() == [1, 1, 1]


def test_kaiming_init_cfg_keeps_the_plain_resnets_function():
    torch.manual_seed(0)
    model = TDAFResNet(depth=18, init_cfg=dict(type='Kaiming',
                                               layer='Conv2d'))
    model.init_weights()
    for anar_module in model.r2dns.anars:
        assert anar_module.last.weight.abs().sum() == 0
    plain = resnet18().eval()
    stats = ('running_mean', 'running_var', 'num_batches_tracked')
    report = plain.load_state_dict(  # the last flow's statistics
        {k: v[-1] if k.endswith(stats) else v
         for k, v in model.state_dict().items()
         if not k.startswith('r2dns.')}, strict=False)
    assert set(report.missing_keys) == {'fc.weight', 'fc.bias'}
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), _plain_features(plain, x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # zero_init_anar=False keeps Kaiming's (non-identity) last conv.
    off = TDAFResNet(depth=18, zero_init_anar=False,
                     init_cfg=dict(type='Kaiming', layer='Conv2d'))
    off.init_weights()
    assert off.r2dns.anars[0].last.weight.abs().sum() > 0


def test_a_bf16_autocast_training_step_is_finite():
    torch.manual_seed(0)
    model = TDAFResNet(depth=18, zero_init_anar=False).train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.rand(2, 3, 64, 64))
        loss = sum(o.float().square().mean() for o in outs)
    assert all(o.dtype == torch.bfloat16 for o in outs)
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


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
    (dict(with_cp=1), 'with_cp must be True or False'),
    (dict(anar_norm_eval=None), 'anar_norm_eval must be True or False'),
])
def test_invalid_arguments_are_refused_at_build(kwargs, match):
    args = dict(depth=18)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TDAFResNet(**args)
