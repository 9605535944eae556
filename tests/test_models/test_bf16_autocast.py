"""A bf16 autocast training step for every class in td_plugins' registry.

Users train with ``--amp``; on the CPU autocast means bf16. Each registered
class gets a tiny instance and one forward + backward under
``torch.autocast('cpu', dtype=torch.bfloat16)``: the loss and every
gradient must be finite and every trainable parameter must get a gradient.
Where a layer has a plain counterpart (a backbone without attention, a
plain conv or FPN), the output dtype must be the counterpart's. A class
added to the registry without an entry here fails
``test_every_registered_class_is_covered``.
"""
from typing import Callable, Dict, Tuple

import pytest
import torch
import torch.nn as nn

import td_plugins.models  # noqa: F401 (registers every class)
from td_plugins.registry import MODELS

AUTOCAST = dict(device_type='cpu', dtype=torch.bfloat16)


def _mean(outs) -> torch.Tensor:
    if isinstance(outs, torch.Tensor):
        outs = [outs]
    return sum(o.float().pow(2).mean() for o in outs)


def _dtypes(outs) -> Tuple[torch.dtype, ...]:
    if isinstance(outs, torch.Tensor):
        outs = [outs]
    return tuple(o.dtype for o in outs)


def _plain_dtypes(module: nn.Module, *args) -> Tuple[torch.dtype, ...]:
    module.train()  # (some codebases' train() returns None)
    with torch.autocast(**AUTOCAST), torch.no_grad():
        return _dtypes(module(*args))


# name -> () -> (module, step(module) -> (loss, outputs), expected dtypes)
Case = Callable[[], Tuple[nn.Module, Callable, Tuple[torch.dtype, ...]]]


def _resnet_case(cls_name: str, depth: int = 18, **kwargs) -> Case:
    def case():
        import torchvision
        model = MODELS.get(cls_name)(depth=depth, **kwargs)
        x = torch.rand(2, 3, 64, 64)
        plain = getattr(torchvision.models, f'resnet{depth}')()
        trunk = nn.Sequential(*list(plain.children())[:-2])
        expected = _plain_dtypes(trunk, x)[-1:]
        return model, lambda m: m(x), expected
    return case


def _resnet3d_case(cls_name: str, **kwargs) -> Case:
    def case():
        from mmaction.models import ResNet3d
        x = torch.rand(2, 3, 4, 32, 32)
        model = MODELS.get(cls_name)(depth=18, pretrained=None, **kwargs)
        plain = ResNet3d(depth=18, pretrained=None)
        return model, lambda m: m(x), _plain_dtypes(plain, x)
    return case


def _convnext() -> tuple:
    from mmpretrain.models import ConvNeXt
    arch = dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128])
    x = torch.rand(2, 3, 64, 64)
    model = MODELS.get('TDAMConvNeXt')(arch=arch, num_steps=2)
    return model, lambda m: m(x), _plain_dtypes(ConvNeXt(arch=arch), x)


def _mobilenet() -> tuple:
    from mmpretrain.models import MobileNetV3
    x = torch.rand(2, 3, 64, 64)
    model = MODELS.get('TDAMMobileNetV3')(arch='small', num_steps=2)
    return model, lambda m: m(x), _plain_dtypes(MobileNetV3(arch='small'), x)


def _bagnet() -> tuple:
    x = torch.rand(2, 3, 77, 77)
    return MODELS.get('BagNet')(), lambda m: m(x), ()


def _awfpn() -> tuple:
    from mmdet.models.necks import FPN
    channels = [8, 16, 32, 64]
    feats = [torch.rand(2, c, 32 // 2**i, 32 // 2**i)
             for i, c in enumerate(channels)]
    args = dict(in_channels=channels, out_channels=8, num_outs=5)
    neck = MODELS.get('AWFPN')(reduction=4, **args)
    return neck, lambda m: m(feats), _plain_dtypes(FPN(**args), feats)


def _heatmap_head() -> tuple:
    from mmpose.models.heads import HeatmapHead
    from mmpose.registry import MODELS as POSE
    args = dict(in_channels=32, out_channels=17,
                deconv_out_channels=(16, 16, 16))
    feats = (torch.rand(2, 32, 4, 3), )
    head = MODELS.get('TDAFHeatmapHead')(num_flows=3, anar=3, **args)
    with POSE.switch_scope_and_registry('mmpose'):
        plain = HeatmapHead(**args)
    return head, lambda m: m(feats), _plain_dtypes(plain, feats)


def _samples(labels):
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(y) for y in labels]


def _classifier_loss(m, x, labels) -> torch.Tensor:
    losses = m(x, _samples(labels), mode='loss')
    return sum(v for k, v in losses.items() if k.startswith('loss'))


def _tdam_classifier() -> tuple:
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    model = MODELS.get('TDAMClassifier')(
        backbone=dict(type='td_plugins.TDAMResNet', depth=18, num_steps=2),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=4, in_channels=512))
    x = torch.rand(2, 3, 64, 64)
    return model, lambda m: _classifier_loss(m, x, [0, 3]), ()


def _tnet() -> tuple:
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    model = MODELS.get('TNet')(
        backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                      base_channels=8, out_indices=(2, 3)),
        num_classes=4, feat_dim=64, grid_size=3, overlap=0.5,
        base_resolution=32, grid_index=0, feature_index=1,
        grid_slice=(1, None, 3), pos_dim=24, num_levels=2,
        locations_per_level=[2])
    x = torch.rand(2, 3, 64, 64)
    return model, lambda m: _classifier_loss(m, x, [0, 3]), ()


def _tnet_loss() -> tuple:
    loss = MODELS.get('TNetLoss')()
    logits = torch.randn(2, 4, requires_grad=True)
    feats = torch.randn(2, 3, 4, requires_grad=True)
    logp = torch.log(torch.rand(2, 2) + 0.1).requires_grad_()

    def step(m):
        out = m(logits * 1.0, torch.tensor([0, 3]), feats * 1.0, logp * 1.0,
                (1, 2))
        return sum(v for k, v in out.items() if k.startswith('loss'))
    return loss, step, ()


def _awconv() -> tuple:
    x = torch.rand(2, 8, 9, 7)
    conv = MODELS.get('AWConv')(8, 16, 3, padding=1, bias=True, reduction=4)
    return conv, lambda m: m(x), _plain_dtypes(nn.Conv2d(8, 16, 3, 1, 1), x)


def _td_attention() -> tuple:
    bottom = torch.rand(2, 8, 6, 5).to(torch.bfloat16)
    top = torch.rand(2, 16, 3, 3).to(torch.bfloat16)
    module = MODELS.get('TopDownAttention')(8, 16, reduction=4)
    # Without attention the bottom passes unchanged: its dtype.
    return module, lambda m: m(bottom, top), (torch.bfloat16, )


def _anar() -> tuple:
    x = torch.rand(2, 16, 8, 8)
    anar = MODELS.get('ANAR')(16, depth=3, zero_init_last=False)
    return anar, lambda m: m(x, out_size=(8, 8)), ()


def _gate() -> tuple:
    h = torch.rand(2, 4, 5, 5, requires_grad=True)
    g = torch.rand(2, 4, 5, 5, requires_grad=True)
    return MODELS.get('HalfScaleResidualGate')(), lambda m: m(h, g), ()


def _dsf() -> tuple:
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    return MODELS.get('DownsampleFunction')(dims=2), lambda m: m(x), ()


def _mfbn(dims: int, name: str = '') -> Case:
    def case():
        shape = (4, 8, 5, 5) if dims == 2 else (4, 8, 3, 5, 5)
        x = torch.rand(*shape)
        plain = (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(8)
        # Without a process group the synchronised form is MFBN.
        bn = MODELS.get(name or f'MFBN{dims}d')(8, num_flows=2)
        return bn, lambda m: m(x, flow=1), _plain_dtypes(plain, x)
    return case


CASES: Dict[str, Case] = {
    'TDAMResNet': _resnet_case('TDAMResNet', num_steps=2),
    'TDAFResNet': _resnet_case('TDAFResNet', num_flows=3),
    'AWResNet': _resnet_case('AWResNet', depth=50),
    'TDAMResNet3d': _resnet3d_case('TDAMResNet3d', num_steps=2),
    'TDAFResNet3d': _resnet3d_case('TDAFResNet3d', num_flows=2),
    'TDAMConvNeXt': _convnext,
    'TDAMMobileNetV3': _mobilenet,
    'BagNet': _bagnet,
    'AWFPN': _awfpn,
    'TDAFHeatmapHead': _heatmap_head,
    'TDAMClassifier': _tdam_classifier,
    'TNet': _tnet,
    'TNetLoss': _tnet_loss,
    'AWConv': _awconv,
    'TopDownAttention': _td_attention,
    'ANAR': _anar,
    'HalfScaleResidualGate': _gate,
    'DownsampleFunction': _dsf,
    'MFBN2d': _mfbn(2),
    'MFBN3d': _mfbn(3),
    'SyncMFBN': _mfbn(2, 'SyncMFBN'),
}


# Upstream: torch 2.13's oneDNN bf16 Conv3d weight gradient on the CPU has
# NaNs for some shapes (a plain mmaction ResNet3d-18 at 2 frames gets NaN in
# conv1.conv.weight.grad; F.conv3d alone with a (5, 7, 7) kernel at 3
# frames), and is finite with oneDNN off. The 3D cases run with oneDNN off;
# ``test_upstream_onednn_bf16_conv3d`` records the bug.
THREE_D = ('TDAMResNet3d', 'TDAFResNet3d')


def _conv3d_weight_grad_is_finite() -> bool:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 3, 32, 32).bfloat16()
    w = torch.randn(64, 3, 5, 7, 7).bfloat16().requires_grad_()
    y = torch.nn.functional.conv3d(x, w, None, (1, 2, 2), (2, 3, 3))
    y.backward(torch.randn_like(y))
    return bool(torch.isfinite(w.grad).all())


@pytest.mark.xfail(reason='upstream oneDNN bf16 Conv3d backward (torch '
                   '2.13, CPU); passes once fixed', strict=False)
def test_upstream_onednn_bf16_conv3d():
    assert _conv3d_weight_grad_is_finite()
    with torch.backends.mkldnn.flags(enabled=False):
        assert _conv3d_weight_grad_is_finite()


def test_every_registered_class_is_covered():
    registered = set(MODELS.module_dict)
    assert registered - set(CASES) == set(), \
        f'no bf16 case for {sorted(registered - set(CASES))}'


@pytest.mark.parametrize('name', sorted(CASES))
def test_bf16_autocast_training_step(name):
    if name in THREE_D:
        pytest.importorskip('mmaction.models')
    torch.manual_seed(0)
    module, step, expected = CASES[name]()
    module.train()
    with torch.autocast(**AUTOCAST), \
            torch.backends.mkldnn.flags(enabled=name not in THREE_D):
        outs = step(module)
    if expected:
        assert _dtypes(outs)[-len(expected):] == expected, name
    loss = outs if isinstance(outs, torch.Tensor) and outs.dim() == 0 \
        else _mean(outs)
    assert torch.isfinite(loss), name
    with torch.backends.mkldnn.flags(enabled=name not in THREE_D):
        loss.backward()
    missing = [n for n, p in module.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, f'{name}: no gradient for {missing[:5]}'
    bad = [n for n, p in module.named_parameters()
           if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f'{name}: non-finite gradients in {bad[:5]}'
