"""BagNet-77 (TNet's ImageNet feature extractor): the spec's exact numbers
(4.1, 4.5), TensorFlow padding semantics, receptive field, dropout,
mmpretrain integration, refusals."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from td_plugins.models.backbones import BagNet
from td_plugins.models.backbones.bagnet import BagNetBottleneck


def _n(m):
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope='module')
def model():
    """One real BagNet-77 for the file (building 20M parameters is the slow
    part on a loaded CPU); every test sets the mode it needs."""
    torch.manual_seed(0)
    return BagNet(out_indices=tuple(range(6)), drop_rate=0.5)


def test_parameter_count_with_a_1000_class_head(model):
    assert _n(model) + 512 * 1000 + 1000 == 20_546_664


@pytest.mark.parametrize('size,gmacs,part4,part6', [
    (224, 18.423, 27, 25), (77, 1.803, 9, 7)])
def test_macs_and_shapes(size, gmacs, part4, part6):
    with torch.device('meta'):
        model = BagNet(out_indices=tuple(range(6))).eval()
        fc = nn.Linear(512, 1000)
    with FlopCounterMode(display=False) as counter:
        outs = model(torch.empty(1, 3, size, size, device='meta'))
        fc(outs[-1].mean((2, 3)))
    macs = counter.get_total_flops() // 2
    assert abs(macs / 1e9 - gmacs) / gmacs < 1e-3, macs
    assert [o.shape[1] for o in outs] == [64, 256, 512, 1024, 2048, 512]
    assert outs[3].shape[-2:] == (part4, part4)
    assert outs[5].shape[-2:] == (part6, part6)
    if size == 77:   # TNet's base resolution: a 5 x 5 location grid
        assert [o.shape[-1] for o in outs] == [75, 38, 19, 9, 7, 7]
        assert outs[3][..., ::2, ::2].shape == (1, 1024, 5, 5)


def test_structure_no_bn_biased_convs_and_names(model):
    names = dict(model.named_parameters())
    for key in ('part1.weight', 'part2.0.conv1.weight', 'part2.0.conv2.bias',
                'part2.0.downsample.weight', 'part4.5.conv3.weight',
                'part5.0.downsample.weight', 'part6.weight', 'part6.bias'):
        assert key in names, key
    assert [len(getattr(model, f'part{i}')) for i in range(2, 6)] == \
        [3, 4, 6, 3]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None and torch.all(c.bias == 0) for c in convs)
    # shortcut convs only where the stride or the width changes
    assert [name for name, m in model.named_modules()
            if name.endswith('downsample')] == [
                'part2.0.downsample', 'part3.0.downsample',
                'part4.0.downsample', 'part5.0.downsample']
    # Keras glorot_normal: truncated at 2 std of sqrt(2 / (fan_in + fan_out))
    w = model.part4[1].conv2.weight
    std = (2 / (256 * 9 * 2)) ** 0.5
    assert abs(w.std().item() / std - 1) < 0.05
    assert w.abs().max() <= 2 * std / 0.87962566103423978 + 1e-7


def test_stride_two_same_padding_follows_tensorflow():
    torch.manual_seed(0)
    block = BagNetBottleneck(16, 8, stride=2, padding='same')
    x = torch.randn(1, 16, 10, 10)   # even: TF pads 0 top/left, 1 bottom/right
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    out = lrelu(block.conv1(x))
    out = lrelu(F.conv2d(F.pad(out, (0, 1, 0, 1)), block.conv2.weight,
                         block.conv2.bias, stride=2))
    expected = lrelu(block.conv3(out) + block.downsample(x))
    torch.testing.assert_close(block(x), expected)
    x = torch.randn(1, 16, 11, 11)   # odd: 1 on each side
    out = lrelu(block.conv1(x))
    out = lrelu(F.conv2d(out, block.conv2.weight, block.conv2.bias,
                         stride=2, padding=1))
    expected = lrelu(block.conv3(out) + block.downsample(x))
    torch.testing.assert_close(block(x), expected)


def test_valid_block_crops_the_shortcut():
    torch.manual_seed(0)
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    block = BagNetBottleneck(32, 8, stride=1, padding='valid')  # 32 == 4*8
    assert block.downsample is None
    x = torch.randn(2, 32, 7, 7)
    out = block.conv3(lrelu(block.conv2(lrelu(block.conv1(x)))))
    torch.testing.assert_close(block(x), lrelu(out + x[..., 1:-1, 1:-1]))
    block = BagNetBottleneck(16, 8, stride=2, padding='valid')
    x = torch.randn(1, 16, 19, 19)
    out = block.conv3(lrelu(block.conv2(lrelu(block.conv1(x)))))
    expected = lrelu(out + block.downsample(x[..., 1:-1, 1:-1]))
    assert expected.shape[-1] == 9
    torch.testing.assert_close(block(x), expected)


def test_receptive_field_is_77_pixels(model):
    model.eval()
    x = torch.rand(1, 3, 88, 88, requires_grad=True)
    out = model(x)[5]
    assert out.shape[-2:] == (8, 8)
    out[0, :, 4, 4].sum().backward()
    model.zero_grad(set_to_none=True)
    rows = x.grad.abs().sum((0, 1, 3)).nonzero().flatten()
    cols = x.grad.abs().sum((0, 1, 2)).nonzero().flatten()
    assert rows.tolist() == cols.tolist() == list(range(8, 85))  # 77, inside


def test_spatial_dropout_after_part6(model):
    with torch.device('meta'):
        assert isinstance(BagNet().drop, nn.Identity)
    assert isinstance(model.drop, nn.Dropout2d) and model.drop.p == 0.5
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        clean = model.eval()(x)
        torch.manual_seed(1)
        dropped = model.train()(x)
    torch.testing.assert_close(dropped[4], clean[4])  # nothing before part6
    flat_clean, flat = clean[5].flatten(2), dropped[5].flatten(2)
    zero = (flat == 0).all(-1)                        # whole channels
    kept = torch.isclose(flat, 2 * flat_clean, atol=1e-6).all(-1)
    assert torch.all(zero | kept)
    assert 0.3 < zero.float().mean() < 0.7


def test_every_parameter_gets_a_gradient(model):
    model.train()
    outs = model(torch.rand(2, 3, 40, 40))
    assert [o.shape[-1] for o in outs] == [38, 19, 10, 4, 2, 2]
    part4, part6 = outs[3], outs[5]
    (part4[..., ::2, ::2].mean() + part6.square().mean()).backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or p.grad.abs().sum() == 0]
    model.zero_grad(set_to_none=True)
    assert not missing, missing[:5]


def test_out_indices_and_frozen_stages():
    with torch.device('meta'):
        model = BagNet(out_indices=[5, 3], frozen_stages=1).train()
        outs = model(torch.empty(1, 3, 77, 77))
    assert model.out_indices == (5, 3)
    assert [o.shape[1] for o in outs] == [1024, 512]   # in network order
    assert not any(p.requires_grad for p in model.part1.parameters())
    assert not any(p.requires_grad for p in model.part2.parameters())
    assert all(p.requires_grad for p in model.part3.parameters())


@pytest.mark.parametrize('kwargs,match', [
    (dict(out_indices=(6, )), r'out_indices must be a non-empty sequence '
     r'of part indices in \[0, 5\]'),
    (dict(out_indices=()), r'out_indices must be a non-empty'),
    (dict(drop_rate=1.0), r'drop_rate must be a number in \[0, 1\)'),
    (dict(drop_rate=-0.1), r'drop_rate must be a number in \[0, 1\)'),
    (dict(frozen_stages=6), r'frozen_stages must be an integer in \[-1, 5\]'),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BagNet(**kwargs)


def test_bad_block_padding_is_refused():
    with pytest.raises(ValueError, match=r"padding must be one of \('same', "
                       r"'valid'\)"):
        BagNetBottleneck(16, 8, padding='reflect')


def test_mmpretrain_image_classifier_builds_with_the_baseline_count():
    pytest.importorskip('mmpretrain')
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    with torch.device('meta'):   # no weights needed for the count
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='td_plugins.BagNet', drop_rate=0.625),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000,
                      in_channels=512)))
        assert type(model.backbone).__name__ == 'BagNet'
        assert model.backbone.part6.weight.is_meta
        assert _n(model) == 20_546_664
        model.eval()
        scores = model(torch.empty(2, 3, 77, 77), mode='tensor')
    assert scores.shape == (2, 1000)
