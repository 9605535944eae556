"""TDAMResNet: official parameter counts, MACs, torchvision layout, args."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.backbones import TDAMResNet
from td_plugins.models.backbones.tdam_resnet import default_td_blocks

FC = {'BasicBlock': 512 * 1000 + 1000, 'Bottleneck': 2048 * 1000 + 1000}


def _params_with_fc(model):
    fc = FC['BasicBlock' if model.depth < 50 else 'Bottleneck']
    return sum(p.numel() for p in model.parameters()) + fc


# The ImageNet rows (1000 classes) and the spec's other rows (1.8).
@pytest.mark.parametrize('kwargs,expected', [
    (dict(depth=50), 27_645_992),
    (dict(depth=50, td_mode='top'), 27_056_168),
    (dict(depth=50, td_mode='top', feedback_distance=3), 27_789_352),
    (dict(depth=101), 46_754_856),
    (dict(depth=101, td_stages=(3, )), 45_937_704),
    (dict(depth=50, feedback_distance=2), 27_652_136),
    (dict(depth=18, feedback_distance=2), 11_828_776),
    (dict(depth=18, td_mode='top', feedback_distance=1), 11_774_504),
    (dict(depth=34, feedback_distance=2), 22_074_152),
    (dict(depth=34, feedback_distance=1), 22_098_728),
    # m = 0 (official widths, no per-step BN): plain + 4 C rd per TD block
    # (C = C0 = CN, rd = C / 16): R50 25,557,032 + 6 * 4 * 1024 * 64 +
    # 3 * 4 * 2048 * 128; R18 11,689,512 + 2 * 4 * 256 * 16 + 2 * 4 * 512 * 32
    (dict(depth=50, feedback_distance=0), 30_275_624),
    (dict(depth=18, feedback_distance=0), 11_853_352),
    (dict(depth=18, feedback_distance=0, num_steps=1), 11_853_352),
])
def test_parameter_counts_match_the_official_code(kwargs, expected):
    assert _params_with_fc(TDAMResNet(**kwargs)) == expected


def test_default_blocks_follow_the_official_lists():
    assert default_td_blocks(50) == [[], [], [0, 1, 2, 3, 4, 5], [0, 1, 2]]
    assert default_td_blocks(101)[2] == [0, 1, 2, 8, 13, 18, 22]
    assert default_td_blocks(152)[2] == [0, 1, 2, 8, 13, 18, 22, 25, 28, 31,
                                         32, 33, 34, 35]
    assert default_td_blocks(101, (3, )) == [[], [], [], [0, 1, 2]]


def test_macs_with_attention_match_the_paper():
    from td_plugins.utils.flops import count_complexity

    def count_macs(model, x):
        return count_complexity(model.eval(), lambda: model(x)).macs
    # The architecture's MACs: every step's top computed in full, as the
    # official code does.
    model = nn.Sequential(TDAMResNet(depth=50, pool_early_tops=False),
                          _Pool(), nn.Linear(2048, 1000))
    macs = count_macs(model, torch.rand(1, 3, 224, 224))
    assert abs(macs / 4.59e9 - 1) < 0.02, macs
    # What inference executes by default: the step-0 tops only pooled.
    model[0].pool_early_tops = True
    for block in model[0].modules():
        if hasattr(block, 'pool_early_tops'):
            block.pool_early_tops = True
    executed = count_macs(model, torch.rand(1, 3, 224, 224))
    assert 4.08e9 < executed < 4.12e9, executed


class _Pool(nn.Module):
    def forward(self, feats):
        return feats[-1].mean(dim=(2, 3))


def test_torchvision_weights_load_with_only_td_parameters_missing():
    from torchvision.models import resnet50
    plain = resnet50()
    model = TDAMResNet(depth=50)
    report = model.load_state_dict(plain.state_dict(), strict=False)
    assert set(report.unexpected_keys) == {'fc.weight', 'fc.bias'}
    td = model.td_parameter_names()
    added = set(td['attention']) | set(td['step_norms'])
    # (BN fills in a missing num_batches_tracked without reporting it.)
    step_buffers = {k for k in model.state_dict() if '.bn3_1.running_' in k}
    assert set(report.missing_keys) == added | step_buffers
    assert len(td['attention']) == 9 * 3 and len(td['step_norms']) == 9 * 2


def test_step_norms_can_start_from_the_loaded_step0_norms(tmp_path):
    from torchvision.models import resnet18
    plain = resnet18()
    with torch.no_grad():
        plain.layer4[1].bn2.running_mean.fill_(0.25)
    path = tmp_path / 'r18.pth'
    torch.save(plain.state_dict(), path)
    init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model = TDAMResNet(depth=18, step_norms_from_step0=True,
                       init_cfg=init_cfg)
    model.init_weights()
    assert (model.layer4[1].bn2_1.running_mean == 0.25).all()
    assert model.copy_step0_norms() == 4  # layer3 and layer4, 2 blocks each
    untouched = TDAMResNet(depth=18, init_cfg=init_cfg)
    untouched.init_weights()
    assert (untouched.layer4[1].bn2_1.running_mean == 0).all()


def test_odd_inputs_batch_one_and_out_indices():
    model = TDAMResNet(depth=18, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 97, 61))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 25, 16), (1, 128, 13, 8), (1, 256, 7, 4), (1, 512, 4, 2)]


def test_every_parameter_gets_a_gradient_in_a_training_step():
    # (zero_init_residual=False: a zeroed last BN stops the gradient of the
    # plain blocks' convs at the first step, by design.)
    model = TDAMResNet(depth=18, feedback_distance=2,
                       zero_init_residual=False).train()
    out = model(torch.rand(2, 3, 64, 48))[-1]
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_forward_steps_gives_one_layer4_output_per_step():
    model = TDAMResNet(depth=18, num_steps=3).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        steps = model.forward_steps(x)
        final = model(x)[-1]
    assert len(steps) == 3
    torch.testing.assert_close(steps[-1][-1], final)
    assert not torch.allclose(steps[0][-1], final)


def test_frozen_stages_and_norm_eval():
    model = TDAMResNet(depth=18, frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer4.parameters())
    assert not model.layer4[0].bn2_1.training


def test_step_norms_train_exempts_only_the_per_step_norms_from_norm_eval():
    """Issue 13.6: with ``step_norms_train`` the per-step BNs (copied from
    bn3 by ``step_norms_from_step0``) measure their own statistics under
    ``norm_eval``; every other BN stays frozen; outputs stay those of the
    official computation order (pooled early tops only where exact)."""
    torch.manual_seed(0)
    kwargs = dict(depth=50, num_steps=3, norm_eval=True, frozen_stages=1,
                  step_norms_from_step0=True, zero_init_residual=False)
    frozen = TDAMResNet(**kwargs)
    frozen.init_weights()
    frozen.train()
    assert not any(m.training for m in frozen.modules()
                   if isinstance(m, nn.BatchNorm2d))
    model = TDAMResNet(step_norms_train=True, **kwargs)
    model.load_state_dict(frozen.state_dict())
    model.train()
    step_bns = {n for n, m in model.named_modules()
                if isinstance(m, nn.BatchNorm2d) and m.training}
    assert step_bns and all(n.rsplit('.', 1)[-1] in ('bn3_1', 'bn3_2')
                            for n in step_bns)
    assert len(step_bns) == 2 * (6 + 3)  # every TD block, both steps
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        model(x)
        # float64: batch statistics of 2x2 layer4 maps amplify rounding
        full = TDAMResNet(step_norms_train=True, pool_early_tops=False,
                          **kwargs).double()
        full.load_state_dict(before)
        full.train()
        pooled = TDAMResNet(step_norms_train=True, **kwargs).double()
        pooled.load_state_dict(before)
        pooled.train()
        torch.testing.assert_close(full(x.double())[-1],
                                   pooled(x.double())[-1])
    after = model.state_dict()
    changed = {k.rsplit('.', 1)[0] for k in before
               if k.endswith('running_mean')
               and not torch.equal(before[k], after[k])}
    assert changed == step_bns
    with pytest.raises(ValueError, match='step_norms_train must be True or '
                                         'False'):
        TDAMResNet(depth=18, step_norms_train=1)


def test_norm_cfg_builds_other_norms():
    model = TDAMResNet(depth=18, norm_cfg=dict(type='GN', num_groups=8))
    assert isinstance(model.layer3[0].bn2_1, nn.GroupNorm)


def test_builds_from_a_codebase_registry():
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(type='td_plugins.TDAMResNet', depth=18))
    assert isinstance(model, TDAMResNet)


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=20), r'depth must be one of \(18, 34, 50, 101, 152\)'),
    (dict(td_mode='bottom'), r"td_mode must be one of \('joint', 'top'\)"),
    (dict(feedback_distance=3),
     r'feedback_distance must be one of \(0, 1, 2\) for BasicBlock'),
    (dict(depth=50, feedback_distance=4),
     r'feedback_distance must be one of \(0, 1, 2, 3\) for Bottleneck'),
    (dict(num_steps=0), 'num_steps must be an integer >= 1'),
    (dict(td_blocks=[[], [], [0, 2], [0]]),
     r'td_blocks must be four lists .* within \[0, 1\], \[0, 1\], '
     r'\[0, 1\], \[0, 1\]'),
    (dict(td_blocks=[[0], [0]]), 'td_blocks must be four lists'),
    (dict(td_stages=(4, )), r'td_stages must be stage indices in \[0, 3\]'),
    (dict(td_order='diagonal'),
     r"td_order must be one of \('channel->spatial', 'spatial->channel', "
     r"'spatial', 'channel', 'parallel'\)"),
    (dict(out_indices=(5, )), r'out_indices must be stage indices'),
    (dict(frozen_stages=9), r'frozen_stages must be an integer in \[-1, 4\]'),
])
def test_invalid_arguments_are_refused_at_build(kwargs, match):
    args = dict(depth=18)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TDAMResNet(**args)
