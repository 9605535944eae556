"""td_plugins.AWFPN: mmdet's FPN with AW lateral/output convs (+ SE/CBAM)."""
import pytest
import torch
import torch.nn as nn
from mmdet.models.necks import FPN

from td_plugins.models.layers import CBAM, AWConv2d, SqueezeExcitation
from td_plugins.models.necks import AWFPN
from td_plugins.registry import MODELS

R50 = [256, 512, 1024, 2048]


def _feats(batch=2, size=32, channels=R50):
    torch.manual_seed(0)
    return [torch.randn(batch, c, size // 2**i, size // 2**i)
            for i, c in enumerate(channels)]


def _n(module):
    return sum(p.numel() for p in module.parameters())


def _silence_attention(neck):
    """Make every AW attention exactly 0 (sigmoid of -inf), so AK = K."""
    for m in neck.modules():
        if isinstance(m, AWConv2d):
            nn.init.zeros_(m.attn_bn2.weight)
            nn.init.constant_(m.attn_bn2.bias, -float('inf'))


def test_the_papers_neck_adds_0_115m_parameters():
    """Spec 3.3: 4 lateral + 4 output AW convs add ~0.115M (114,944)."""
    plain = FPN(in_channels=R50, out_channels=256, num_outs=5)
    aw = AWFPN(in_channels=R50, out_channels=256, num_outs=5)
    assert _n(aw) - _n(plain) == 114_944
    # SE / CBAM before each of the 8 convs (reduction 16, biased MLPs).
    se = AWFPN(in_channels=R50, out_channels=256, num_outs=5, attention='se')
    cbam = AWFPN(in_channels=R50, out_channels=256, num_outs=5,
                 attention='cbam')
    assert _n(se) - _n(plain) == 114_944 + 734_256
    assert _n(cbam) - _n(se) == 8 * (2 * 49 + 2)   # spatial conv + BN


def test_which_convs_are_aw():
    neck = AWFPN(in_channels=R50, out_channels=64, num_outs=5, start_level=1,
                 add_extra_convs='on_output')
    assert all(isinstance(m.conv, AWConv2d) for m in neck.lateral_convs)
    kinds = [type(m.conv) for m in neck.fpn_convs]
    assert kinds == [AWConv2d] * 3 + [nn.Conv2d] * 2
    extra = AWFPN(in_channels=R50, out_channels=64, num_outs=5,
                  start_level=1, add_extra_convs='on_output',
                  aw_extra_convs=True, attention='se')
    assert all(isinstance(m.conv, AWConv2d) for m in extra.fpn_convs)
    assert all(isinstance(a, SqueezeExcitation)
               for a in extra.fpn_attentions)


@pytest.mark.parametrize('kwargs', [
    dict(num_outs=5),
    dict(num_outs=5, start_level=1, add_extra_convs='on_output',
         relu_before_extra_convs=True, aw_extra_convs=True),
    dict(num_outs=5, add_extra_convs='on_input', aw_extra_convs=True),
    dict(num_outs=6, add_extra_convs='on_lateral', aw_extra_convs=True),
    dict(num_outs=4, upsample_cfg=dict(scale_factor=2, mode='nearest')),
])
def test_with_zero_attention_it_is_the_stock_fpn(kwargs):
    """Same weights and A = 0: AWFPN's own forward must reproduce mmdet's
    FPN exactly for every extra-level mode (checks the top-down path, the
    outputs and the extra convs, not just shapes)."""
    kwargs = dict(kwargs)
    torch.manual_seed(1)
    aw = AWFPN(in_channels=R50, out_channels=32, **kwargs).eval()
    _silence_attention(aw)
    kwargs.pop('aw_extra_convs', None)
    plain = FPN(in_channels=R50, out_channels=32, **kwargs).eval()
    missing, unexpected = plain.load_state_dict(aw.state_dict(),
                                                strict=False)
    assert not missing
    assert all('.attn_' in k for k in unexpected)
    feats = _feats(size=64)
    with torch.no_grad():
        outs, ref = aw(feats), plain(feats)
    assert len(outs) == len(ref) == kwargs['num_outs']
    for o, r in zip(outs, ref):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


def test_attention_changes_the_output_and_runs_before_each_conv():
    torch.manual_seed(2)
    neck = AWFPN(in_channels=R50, out_channels=32, num_outs=4,
                 attention='cbam').eval()
    seen = []
    for attn, conv in zip(neck.lateral_attentions, neck.lateral_convs):
        assert isinstance(attn, CBAM)
        attn.register_forward_hook(lambda m, i, o: seen.append(o))
        conv.register_forward_pre_hook(
            lambda m, i: seen.append(('conv', i[0])))
    neck(_feats())
    # each lateral conv receives exactly its attention module's output
    for k in range(0, len(seen), 2):
        assert seen[k + 1][0] == 'conv' and seen[k + 1][1] is seen[k]
    silenced = AWFPN(in_channels=R50, out_channels=32, num_outs=4).eval()
    silenced.load_state_dict(neck.state_dict(), strict=False)
    with torch.no_grad():
        a = neck(_feats())[0]
        _silence_attention(silenced)
        b = silenced(_feats())[0]
    assert not torch.allclose(a, b, atol=1e-3)


def test_stock_fpn_checkpoint_loads_with_only_attention_keys_missing():
    plain = FPN(in_channels=R50, out_channels=64, num_outs=5)
    aw = AWFPN(in_channels=R50, out_channels=64, num_outs=5, attention='se')
    missing, unexpected = aw.load_state_dict(plain.state_dict(),
                                             strict=False)
    assert not unexpected
    assert missing and all(
        '.attn_' in k or k.startswith(('lateral_attentions.',
                                       'fpn_attentions.')) for k in missing)
    assert torch.equal(aw.fpn_convs[0].conv.weight,
                       plain.fpn_convs[0].conv.weight)


@pytest.mark.parametrize('attention', [None, 'se', 'cbam'])
def test_every_parameter_gets_a_gradient(attention):
    neck = AWFPN(in_channels=[32, 64, 128], out_channels=32, num_outs=5,
                 add_extra_convs='on_output', aw_extra_convs=True,
                 attention=attention, attention_reduction=4)
    neck.train()
    sum(o.square().mean() for o in neck(_feats(channels=[32, 64, 128]))
        ).backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_built_through_the_registry():
    neck = MODELS.build(dict(type='td_plugins.AWFPN', in_channels=R50,
                             out_channels=64, num_outs=5, attention='se'))
    assert isinstance(neck, FPN) and neck.attention == 'se'


@pytest.mark.parametrize('kwargs,match', [
    (dict(attention='sa'), r"attention must be one of \(None, 'se', 'cbam'\)"),
    (dict(reduction=512), r'reduction \(512\) must not exceed out_channels'),
    (dict(reduction=0), 'reduction must be a positive integer'),
    (dict(attention='se', attention_reduction=300),
     r'attention_reduction \(300\) must not exceed'),
    (dict(aw_impl='grouped'), "aw_impl must be one of"),
    (dict(conv_cfg=dict(type='td_plugins.AWConv')), 'conv_cfg must be None'),
])
def test_invalid_arguments_are_refused_at_build_time(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AWFPN(in_channels=R50, out_channels=256, num_outs=5, **kwargs)


def test_wrong_number_of_inputs_is_refused():
    neck = AWFPN(in_channels=R50, out_channels=32, num_outs=5)
    with pytest.raises(ValueError, match='expects 4 feature maps'):
        neck(_feats()[:3])


# ---------------------------------------------------- branch norms ---
# The shipped detection setting: per-sample GroupNorm (one group) in the AW
# branches (docs/aw.md, "Normalisation of the attention branch").

GN1 = dict(type='GN', num_groups=1)
SMALL = [32, 64, 128, 256]


def _aw_convs(neck):
    return [m for m in neck.modules() if isinstance(m, AWConv2d)]


def test_default_branch_norm_is_one_group_gn_and_bn_is_opt_in():
    neck = AWFPN(in_channels=R50, out_channels=256, num_outs=5)
    convs = _aw_convs(neck)
    assert len(convs) == 8
    for conv in convs:
        for norm in (conv.attn_bn1, conv.attn_bn2):
            assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1
    bn = AWFPN(in_channels=R50, out_channels=256, num_outs=5,
               attn_norm_cfg='BN')
    assert all(isinstance(c.attn_bn1, nn.BatchNorm2d) for c in _aw_convs(bn))
    assert _n(bn) == _n(neck)           # the paper's 114,944 either way
    # GN weights load from a BN-branch checkpoint (its statistics dropped)
    missing, unexpected = neck.load_state_dict(bn.state_dict(), strict=False)
    assert not missing
    assert unexpected and all(k.endswith(('running_mean', 'running_var',
                                          'num_batches_tracked'))
                              for k in unexpected)


def _lateral_attention(neck, feats, level=3):
    """A of the 1x1 lateral AW conv of ``level`` for ``feats``."""
    conv = neck.lateral_convs[level].conv
    return conv.attention(feats[level])


@pytest.mark.parametrize('norm,collapsed', [('BN', True), (GN1, False),
                                            (None, False)])
def test_lateral_attention_at_two_images(norm, collapsed):
    torch.manual_seed(0)
    neck = AWFPN(in_channels=R50, out_channels=256, num_outs=5,
                 attn_norm_cfg=norm).train()
    feats = [f.relu() for f in _feats(batch=2, size=32)]
    with torch.no_grad():
        neck(feats)
        train_a = _lateral_attention(neck, feats)
        neck.eval()
        eval_a = _lateral_attention(neck, feats)
    distinct = (train_a * 1000).round().unique().numel()
    if collapsed:   # the paper's BN: 2 values per channel -> about +-1
        assert distinct < 60, distinct
        assert (train_a - eval_a).abs().max() > 0.1
    else:
        assert distinct > 200, distinct
        torch.testing.assert_close(train_a, eval_a, rtol=0, atol=0)


@pytest.mark.parametrize('attention', [None, 'se', 'cbam'])
@pytest.mark.parametrize('batch', [1, 2])
def test_shipped_setting_trains_at_one_and_two_images(attention, batch):
    torch.manual_seed(0)
    neck = AWFPN(in_channels=SMALL, out_channels=256, num_outs=5,
                 attention=attention, attn_norm_cfg=GN1).train()
    outs = neck(_feats(batch=batch, size=32, channels=SMALL))
    loss = sum(o.square().mean() for o in outs)
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and \
            p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('attention', [None, 'se'])
def test_bf16_autocast_step_has_the_stock_fpns_dtypes(attention):
    torch.manual_seed(0)
    args = dict(in_channels=SMALL, out_channels=64, num_outs=5)
    neck = AWFPN(**args, reduction=4, attention=attention,
                 attention_reduction=4).train()
    plain = FPN(**args).train()
    feats = _feats(batch=2, size=32, channels=SMALL)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = neck(feats)
        expected = [o.dtype for o in plain(feats)]
        loss = sum(o.float().square().mean() for o in outs)
    assert [o.dtype for o in outs] == expected == [torch.bfloat16] * 5
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('norm,match', [
    ('LN', r"attn_norm_cfg must be one of \('BN', 'SyncBN', 'GN', None\)"),
    (dict(type='GN', num_groups=1, affine=False),
     r"attn_norm_cfg of type 'GN' takes only the keys"),
    (dict(type='GN', num_groups=32),
     r"num_groups \(32\) must divide the attention branch's channels"),
])
def test_invalid_attn_norm_cfg_is_refused(norm, match):
    with pytest.raises(ValueError, match=match):
        AWFPN(in_channels=R50, out_channels=256, num_outs=5,
              attn_norm_cfg=norm)
