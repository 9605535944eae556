"""Mixed precision (bfloat16 autocast on the CPU): a training step of every
TDAM backbone, TDAMClassifier, TNet (+ TNetLoss) and BagNet gives a finite
loss and finite gradients for every parameter; TDAM blocks give the dtype
the plain block gives; TNet's location probabilities and loss terms are
float32 (the official code's precision)."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
SMALL_CONVNEXT = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])


def _autocast():
    return torch.autocast('cpu', dtype=torch.bfloat16)


def _check_step(model: nn.Module, loss: torch.Tensor) -> None:
    assert torch.isfinite(loss).all(), loss
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.dtype == p.dtype, name


def _backbone(kind: str, plain: bool = False):
    """A small TDAM backbone and its input shape; ``plain``: the same with
    T = 1, i.e. the host network without attention."""
    steps = dict(num_steps=1) if plain else {}
    if kind == 'resnet':
        from td_plugins.models.backbones import TDAMResNet
        return TDAMResNet(depth=18, zero_init_residual=False, **steps), \
            (2, 3, 32, 32)
    if kind == 'resnet_m3':
        from td_plugins.models.backbones import TDAMResNet
        return TDAMResNet(depth=50, feedback_distance=3,
                          zero_init_residual=False,
                          **(steps or dict(num_steps=3))), (2, 3, 32, 32)
    if kind == 'resnet3d':
        pytest.importorskip('mmaction')
        from td_plugins.models.backbones.tdam_resnet3d import TDAMResNet3d
        model = TDAMResNet3d(depth=18, pretrained=None,
                             zero_init_residual=False, **steps)
        model.init_weights()
        return model, (2, 3, 4, 32, 32)
    if kind == 'convnext':
        from td_plugins.models.backbones.tdam_convnext import TDAMConvNeXt
        return TDAMConvNeXt(arch=SMALL_CONVNEXT, layer_scale_init_value=1.0,
                            out_indices=(2, 3), **steps), (2, 3, 32, 32)
    from td_plugins.models.backbones.tdam_mobilenet_v3 import TDAMMobileNetV3
    return TDAMMobileNetV3(arch='small', out_indices=(8, 12), **steps), \
        (2, 3, 32, 32)


def _outputs(model: nn.Module, x: torch.Tensor) -> list:
    outs = model(x)
    return [outs] if isinstance(outs, torch.Tensor) else list(outs)


@pytest.mark.parametrize('kind', ['resnet', 'resnet_m3', 'resnet3d',
                                  'convnext', 'mobilenet_v3'])
def test_tdam_backbone_bf16_training_step(kind):
    torch.manual_seed(0)
    model, shape = _backbone(kind)
    plain, _ = _backbone(kind, plain=True)
    model.train()
    plain.train()
    x = torch.rand(shape)
    with _autocast():
        outs = _outputs(model, x)
        loss = sum(o.float().square().mean() for o in outs)
        expected = [o.dtype for o in _outputs(plain, x)]
    # the dtypes of the network without attention (bf16, or float32 after
    # ConvNeXt's LayerNorm, which autocast runs in float32)
    assert [o.dtype for o in outs] == expected
    assert torch.bfloat16 in expected or kind == 'convnext'
    _check_step(model, loss)


@pytest.mark.parametrize('m', [0, 1, 2, 3])
def test_td_bottleneck_gives_the_plain_blocks_dtype(m):
    from torchvision.models.resnet import Bottleneck

    from td_plugins.models.layers import TDBottleneck
    torch.manual_seed(0)
    x = torch.rand(2, 64, 8, 8)
    td = TDBottleneck(64, 16, feedback_distance=m, reduction=4).train()
    plain = Bottleneck(64, 16).train()
    with _autocast():
        assert td(x).dtype == plain(x).dtype == torch.bfloat16
        xb = x.bfloat16()
        assert td(xb).dtype == plain(xb).dtype == torch.bfloat16


def test_tdam_classifier_bf16_training_step():
    from mmpretrain.structures import DataSample

    from td_plugins.utils import build_from_config, load_config
    torch.manual_seed(0)
    model = build_from_config(load_config(
        str(REPO / 'configs/tdam/demo/tdam-r18_cls_demo.py')))
    model.train()
    samples = [DataSample().set_gt_label(i) for i in (0, 1)]
    with _autocast():
        losses = model(torch.rand(2, 3, 32, 32), samples, mode='loss')
    _check_step(model, sum(v for k, v in losses.items() if 'loss' in k))


def test_tnet_with_loss_bf16_training_step():
    from mmpretrain.structures import DataSample

    from td_plugins.utils import build_from_config, load_config
    torch.manual_seed(0)
    model = build_from_config(load_config(
        str(REPO / 'configs/tnet/demo/tnet-bagnet_cls_demo.py')))
    model.train()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with _autocast():
        out = model.traverse(x)
        assert out['features'].dtype == torch.bfloat16
        # location probabilities, their log and the choice: float32
        assert out['probs'].dtype == out['log_probs'].dtype == torch.float32
        grid, feat = model.extract_feat(
            torch.rand(2, 3, 48, 48, dtype=torch.float32))
        probs = model.location_module(grid, feat)
        assert probs.dtype == torch.float32
        ref = torch.softmax(F.normalize(model.location_module.output_linear(
            F.leaky_relu(model.location_module.conv(
                model.location_module.meshgrid(torch.cat(
                    [grid, feat[:, :, None, None].expand(-1, -1, 3, 3)],
                    1))), 0.2)).flatten(1).float(), dim=-1), dim=-1)
        torch.testing.assert_close(probs, ref)
        losses = model(x, [DataSample().set_gt_label(i) for i in (0, 3)],
                       mode='loss')
    assert all(v.dtype == torch.float32 for v in losses.values()), \
        {k: v.dtype for k, v in losses.items()}
    assert model.loss_module.baseline.dtype == torch.float32
    _check_step(model, sum(v for k, v in losses.items()
                           if k.startswith('loss')))


def test_bagnet_bf16_training_step():
    from td_plugins.models.backbones import BagNet
    torch.manual_seed(0)
    model = BagNet(out_indices=(5, ), drop_rate=0.5).train()
    fc = nn.Linear(512, 4)
    with _autocast():
        feat = model(torch.rand(2, 3, 77, 77))[-1].mean(dim=(2, 3))
        loss = F.cross_entropy(fc(feat), torch.tensor([0, 2]))
    assert feat.dtype == torch.bfloat16
    _check_step(model, loss)
