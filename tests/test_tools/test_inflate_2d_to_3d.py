"""tools/model_converters/inflate_2d_to_3d.py: 2D ResNet / TDAF / TDAM
weights inflated I3D-style give, on a clip constant in time, the 2D output
per frame (for the frames whose temporal receptive field is inside the
clip), and the key report is exact."""
import json
import re

import pytest
import torch
import torchvision

pytest.importorskip('mmaction')

from conftest import load_script, run_tool  # noqa: E402

from td_plugins.models.backbones import TDAFResNet, TDAMResNet  # noqa: E402
from td_plugins.utils import safe_torch_load  # noqa: E402

TOOL = 'tools/model_converters/inflate_2d_to_3d.py'
inf = load_script(TOOL)
ATOL = 1e-4


def _random_norms(model: torch.nn.Module, seed: int = 0) -> None:
    from td_plugins.models.layers import MultiFlowBatchNorm
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm,
                              MultiFlowBatchNorm)):
                for t, lo, hi in ((m.running_mean, -0.2, 0.2),
                                  (m.running_var, 0.5, 2.0),
                                  (m.weight, 0.5, 1.5),
                                  (m.bias, -0.2, 0.2)):
                    t.copy_(torch.rand(t.shape, generator=gen) * (hi - lo)
                            + lo)


def _clip(x: torch.Tensor, frames: int) -> torch.Tensor:
    return x[:, :, None].expand(-1, -1, frames, -1, -1).contiguous()


def _check_frames(out2d, out3d, frames):
    out3d = out3d if isinstance(out3d, (list, tuple)) else [out3d]
    assert len(out2d) == len(out3d)
    for a, b in zip(out2d, out3d):
        assert b.shape[:2] + b.shape[3:] == a.shape
        for t in frames:
            diff = (b[:, :, t] - a).abs().max().item()
            assert diff <= ATOL, (t, diff)


def test_resnet18_into_mmaction_resnet3d():
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    _random_norms(net)
    # Temporal kernels of 3 in the stem and layer1 (radius 1 + 2 * 2 = 5
    # frames), no temporal strides: frames 5 and 6 of 12 see no padding.
    args = dict(conv1_kernel=(3, 7, 7), inflate=(1, 0, 0, 0),
                with_pool2=False, out_indices=(0, 1, 2, 3))
    out, report, model = inf.inflate(net.state_dict(), backbone_args=args)
    assert report.target == 'ResNet3d' and report.depth == 18
    assert report.filled == list(model.state_dict())
    assert report.new == [] and report.missing == []
    assert report.unused == ['fc.weight', 'fc.bias']
    # I3D: every time slice is the 2D kernel / t.
    w3 = out['backbone.layer1.0.conv1.conv.weight']
    w2 = net.layer1[0].conv1.weight
    assert w3.shape == (64, 64, 3, 3, 3)
    for t in range(3):
        torch.testing.assert_close(w3[:, :, t], w2 / 3, rtol=0, atol=0)
    assert torch.equal(out['backbone.layer2.0.downsample.bn.running_var'],
                       net.layer2[0].downsample[1].running_var)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y2 = [net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))]
        for layer in (net.layer2, net.layer3, net.layer4):
            y2.append(layer(y2[-1]))
        model.eval()  # ResNet3d.train returns None
        y3 = model(_clip(x, 12))
    _check_frames(y2, y3, frames=(5, 6))


def test_tdaf_r18_with_trained_anars_into_tdaf_resnet3d():
    torch.manual_seed(1)
    net = TDAFResNet(depth=18, num_flows=2, anar=3,
                     zero_init_anar=False).eval()
    _random_norms(net, seed=1)
    # A 3-frame stem kernel; flow 1 runs at half the frame rate, so the
    # border effects reach 3 frames of 8 from each end through the 3D ANAR
    # (4x4x4 up-sampling): frames 3 and 4 are exact.
    args = dict(conv1_kernel=(3, 7, 7), inflate=(0, 0, 0, 0),
                with_pool2=False, out_indices=(0, 1, 2, 3))
    out, report, model = inf.inflate(net.state_dict(), backbone_args=args)
    assert report.target == 'TDAFResNet3d'
    assert model.r2dns.num_flows == 2 and model.r2dns.anars[0].depth == 3
    assert report.filled == list(model.state_dict())
    assert report.new == report.missing == report.unused == []
    # Transposed convs: divided by t / stride = 2, not by t = 4.
    up3 = out['backbone.r2dns.anars.0.ups.0.weight']
    up2 = net.r2dns.anars[0].ups[0].weight
    for t in range(4):
        torch.testing.assert_close(up3[:, :, t], up2 / 2, rtol=0, atol=0)
    # Multi-flow statistics stay per flow.
    assert torch.equal(out['backbone.layer3.1.conv2.bn.running_mean'],
                       net.layer3[1].bn2.running_mean)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y2 = net(x)
        model.eval()  # ResNet3d.train returns None
        y3 = model(_clip(x, 8))
    _check_frames(y2, y3, frames=(3, 4))


def test_plain_resnet_into_tdaf3d_reports_the_anars_as_new():
    net = torchvision.models.resnet18()
    out, report, model = inf.inflate(
        net.state_dict(), target='tdaf',
        backbone_args=dict(num_flows=2, anar=5))
    assert report.new == [k for k in model.state_dict()
                          if k.startswith('r2dns.')]
    assert report.new and report.missing == []
    assert report.unused == ['fc.weight', 'fc.bias']
    # Multi-flow BN took the plain statistics in every flow.
    mean = out['backbone.layer1.0.conv1.bn.running_mean']
    assert mean.shape == (2, 64)
    assert torch.equal(mean, net.layer1[0].bn1.running_mean.expand(2, -1))


def test_tdam_r18_into_tdam_resnet3d():
    torch.manual_seed(2)
    net = TDAMResNet(depth=18, feedback_distance=2, num_steps=3,
                     out_indices=(2, 3)).eval()
    _random_norms(net, seed=2)
    # TDAM's attention pools over T, H and W, so only 1-frame kernels give
    # every frame exactly; with_pool2 (a temporal max-pool) keeps a
    # constant clip constant.
    args = dict(conv1_kernel=(1, 7, 7), inflate=(0, 0, 0, 0),
                with_pool2=True, out_indices=(2, 3))
    out, report, model = inf.inflate(net.state_dict(), backbone_args=args)
    assert model.num_steps == 3 and model.feedback_distance == 2
    assert report.filled == list(model.state_dict())
    assert report.new == report.missing == report.unused == []
    assert torch.equal(out['backbone.layer4.1.bn1_2.running_var'],
                       net.layer4[1].bn1_2.running_var)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y2 = net(x)
        model.eval()  # ResNet3d.train returns None
        y3 = model(_clip(x, 4))
    _check_frames(y2, y3, frames=(0, 1))


def test_plain_resnet_into_tdam3d_copies_step0_norms():
    torch.manual_seed(3)
    net = torchvision.models.resnet18()
    _random_norms(net, seed=3)
    out, report, model = inf.inflate(net.state_dict(), target='tdam',
                                     backbone_args=dict(feedback_distance=1))
    added = re.compile(r'^layer[34]\.\d\.(td\.\w+\.weight|bn2_1\.\w+)$')
    assert report.new == [k for k in model.state_dict() if added.match(k)]
    assert len(report.new) == 4 * 3 + 4 * 5
    steps = [k for k in report.new if '.bn2_1.' in k]
    assert list(report.derived) == steps
    for key in steps:
        assert report.derived[key] == key.replace('.bn2_1.', '.conv2.bn.')
        base = key.replace('.bn2_1.', '.bn2.')
        assert torch.equal(out['backbone.' + key], net.state_dict()[base])


def test_cli_with_a_config_and_an_mmpretrain_layout(tmp_path):
    """2D TDAF-R50 (ANAR-5, 3 flows) in mmpretrain layout -> the Kinetics
    config's TDAFResNet3d; the output loads strictly into that backbone."""
    torch.manual_seed(4)
    net = TDAFResNet(depth=50, num_flows=3, anar=5)
    state = {'backbone.' + k: v for k, v in net.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(10, 2048)
    src = tmp_path / 'tdaf_r50_2d.pth'
    torch.save({'state_dict': state, 'meta': {}}, src)
    dst = tmp_path / 'tdaf_r50_3d.pth'
    report_json = tmp_path / 'report.json'
    config = ('configs/tdaf/'
              'tdaf-resnet3d50-anar5-3f_8xb8-16x1x1-100e_kinetics400-rgb.py')
    proc = run_tool(TOOL, src, dst, '--config', config, '--report-json',
                    report_json)
    report = json.loads(report_json.read_text())
    assert report['target'] == 'TDAFResNet3d', proc.stdout
    assert report['unused'] == ['head.fc.weight']
    assert report['new'] == [] and report['missing'] == []
    ckpt = safe_torch_load(str(dst))
    assert ckpt['meta']['report'] == report
    from mmengine.config import Config

    from td_plugins.models.backbones import TDAFResNet3d
    cfg = dict(Config.fromfile(config).model.backbone)
    cfg.pop('type')
    model = TDAFResNet3d(**cfg)
    model.load_state_dict({k[len('backbone.'):]: v for k, v in
                           ckpt['state_dict'].items()}, strict=True)
    # 7x7x7 stem: each time slice is the 2D kernel / 7.
    torch.testing.assert_close(model.conv1.conv.weight[:, :, 3],
                               net.conv1.weight / 7, rtol=0, atol=0)


def test_refuses_mismatches():
    net = TDAFResNet(depth=18, num_flows=2)
    with pytest.raises(ValueError, match="inflates into target 'tdaf'"):
        inf.inflate(net.state_dict(), target='resnet')
    with pytest.raises(ValueError, match='were not filled'):
        inf.inflate(torchvision.models.resnet18().state_dict(),
                    target='resnet', backbone_args=dict(depth=34))
    with pytest.raises(ValueError, match='target must be one of'):
        inf.inflate(torchvision.models.resnet18().state_dict(),
                    target='i3d')
