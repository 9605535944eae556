"""TDAFResNet3d: mmaction ResNet3d layout, inflation, identity init."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

pytest.importorskip('mmaction')
from mmaction.models.backbones.resnet3d import ResNet3d  # noqa: E402

from td_plugins.models.backbones import TDAFResNet3d  # noqa: E402

SMALL = dict(depth=18, pretrained=None, norm_eval=False)


def test_plain_resnet3d_weights_load_and_identity_init():
    torch.manual_seed(0)
    plain = ResNet3d(**SMALL)
    plain.init_weights()
    with torch.no_grad():
        for name, buf in plain.named_buffers():
            if name.endswith('running_mean'):
                buf.uniform_(-0.1, 0.1)
    plain.eval()
    model = TDAFResNet3d(num_flows=3, anar=5, **SMALL)
    model.init_weights()
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert not report.unexpected_keys
    # (A torch BN without version metadata gets num_batches_tracked filled.)
    assert set(report.missing_keys) == {
        k for k in model.state_dict() if k.startswith('r2dns.') and
        not k.endswith('num_batches_tracked')}
    model.eval()
    x = torch.rand(1, 3, 8, 48, 40)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-5, atol=1e-5)


def test_2d_imagenet_weights_inflate(tmp_path):
    from torchvision.models import resnet18
    net2d = resnet18()
    with torch.no_grad():
        net2d.layer1[0].bn1.running_mean.uniform_(-1, 1)
    path = tmp_path / 'r18.pth'
    torch.save(net2d.state_dict(), path)
    model = TDAFResNet3d(depth=18, pretrained=str(path), pretrained2d=True,
                         inflate=(1, 1, 1, 1), conv1_kernel=(3, 7, 7))
    model.init_weights()
    w2d = net2d.layer1[0].conv1.weight
    w3d = model.layer1[0].conv1.conv.weight
    kt = w3d.shape[2]
    torch.testing.assert_close(w3d, w2d.unsqueeze(2).expand_as(w3d) / kt)
    bn = model.layer1[0].conv1.bn
    for flow in range(3):
        torch.testing.assert_close(bn.running_mean[flow],
                                   net2d.layer1[0].bn1.running_mean)
    # The ANARs were not inflated (no 2D counterpart) and start neutral.
    assert torch.count_nonzero(model.r2dns.anars[0].last.weight) == 0


def test_odd_clip_sizes_and_gradients():
    # (ResNet3d's zero_init_residual would zero the last BN of each block
    # and with it the gradient of the convolutions before it.)
    model = TDAFResNet3d(num_flows=3, anar=3, zero_init_anar=False,
                         zero_init_residual=False, **SMALL)
    model.init_weights()
    model.train()
    out = model(torch.rand(2, 3, 9, 47, 53))
    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_builds_from_mmaction_registry_and_refuses_bad_arguments():
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    model = MODELS.build(dict(type='td_plugins.TDAFResNet3d', depth=18,
                              pretrained=None, num_flows=2, anar=3))
    assert isinstance(model, ResNet3d) and model.r2dns.num_flows == 2
    with pytest.raises(ValueError, match=r'num_flows must be an integer in '
                       r'\[1, 4\]'):
        TDAFResNet3d(num_flows=5, **SMALL)
    with pytest.raises(ValueError, match=r'depth \(anar\) must be one of'):
        TDAFResNet3d(anar=4, **SMALL)
    with pytest.raises(ValueError, match='norm_cfg.type must be BN3d'):
        TDAFResNet3d(norm_cfg=dict(type='GN', num_groups=2), **SMALL)


def _step(model, x):
    out = model(x)
    (out * torch.linspace(-1, 1, out.shape[1]).view(1, -1, 1, 1, 1)) \
        .square().mean().backward()
    return (out.detach(),
            {k: p.grad.clone() for k, p in model.named_parameters()},
            {k: b.clone() for k, b in model.named_buffers()})


def test_with_cp_equals_without():
    torch.manual_seed(0)
    args = dict(SMALL, num_flows=3, anar=3, zero_init_anar=False,
                zero_init_residual=False)
    ref = TDAFResNet3d(**args)
    ref.init_weights()
    ref.train()
    cp = TDAFResNet3d(with_cp=True, **args)
    cp.load_state_dict(ref.state_dict())
    cp.train()
    assert all(b.with_cp for b in cp.layer1)
    x = torch.rand(2, 3, 8, 32, 32)
    out_a, grads_a, bufs_a = _step(ref, x)
    out_b, grads_b, bufs_b = _step(cp, x)
    torch.testing.assert_close(out_b, out_a, rtol=0, atol=0)
    for key in grads_a:
        torch.testing.assert_close(grads_b[key], grads_a[key], rtol=0,
                                   atol=0, msg=key)
    for key in bufs_a:
        torch.testing.assert_close(bufs_b[key], bufs_a[key], rtol=0, atol=0,
                                   msg=key)
    assert bufs_b['layer4.0.conv1.bn.num_batches_tracked'].tolist() == \
        [0, 0, 1]
    assert bufs_b['conv1.bn.num_batches_tracked'].tolist() == [1, 1, 1]


def test_norm_eval_freezes_pretrained_norms_not_the_anars():
    model = TDAFResNet3d(depth=18, pretrained=None, norm_eval=True,
                         num_flows=3, anar=3)
    model.init_weights()
    model.train()
    norms = {k: m for k, m in model.named_modules()
             if isinstance(m, _BatchNorm)}
    anar = {k: m for k, m in norms.items() if k.startswith('r2dns.')}
    plain = {k: m for k, m in norms.items() if not k.startswith('r2dns.')}
    assert anar and plain
    assert all(m.training for m in anar.values())
    assert not any(m.training for m in plain.values())
    before = {k: m.running_mean.clone() for k, m in norms.items()}
    model(torch.rand(2, 3, 8, 32, 32) * 3 + 1)
    for k, m in plain.items():
        assert torch.equal(m.running_mean, before[k]), k
    for k, m in anar.items():
        assert not torch.equal(m.running_mean, before[k]), k
    frozen = TDAFResNet3d(depth=18, pretrained=None, norm_eval=True,
                          anar_norm_eval=True)
    frozen.train()
    assert not frozen.r2dns.anars[0].trans_norm.training


def test_a_3d_checkpoint_keeps_its_trained_anars(tmp_path):
    torch.manual_seed(0)
    trained = TDAFResNet3d(num_flows=3, anar=3, zero_init_anar=False,
                           **SMALL)
    path = tmp_path / 'tdaf3d.pth'
    torch.save(trained.state_dict(), path)
    model = TDAFResNet3d(depth=18, pretrained=str(path), pretrained2d=False,
                         num_flows=3, anar=3)
    model.init_weights()
    torch.testing.assert_close(model.r2dns.anars[0].last.weight,
                               trained.r2dns.anars[0].last.weight)
    assert model.r2dns.anars[0].last.weight.abs().sum() > 0
