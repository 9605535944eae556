"""TDAFResNet3d: mmaction ResNet3d layout, inflation, identity init."""
import pytest
import torch

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
    assert set(report.missing_keys) == {
        k for k in model.state_dict() if k.startswith('r2dns.')}
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
