"""TD blocks (TDAM section 3.2, official code): m, T, per-step BNs."""
import pytest
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from td_plugins.models.layers import TDBasicBlock, TDBottleneck


def _down(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                         nn.BatchNorm2d(cout))


@pytest.mark.parametrize('m,bottom,bns', [
    (0, 64, []), (1, 16, ['bn3_1']), (2, 16, ['bn2_1', 'bn3_1']),
    (3, 64, ['bn1_1', 'bn2_1', 'bn3_1'])])
def test_bottleneck_bottom_map_and_step_norms(m, bottom, bns):
    # inplanes 64, width 16, out 64: the bottom is the bn3 output (m=0), the
    # conv2 or conv1 output (m=1, 2) or the block input (m=3).
    blk = TDBottleneck(64, 16, feedback_distance=m, reduction=4)
    assert blk.td.fuse.out_channels == bottom
    assert blk.td.bottom_fc.in_channels == bottom
    names = sorted(n for n, _ in blk.named_children() if '_' in n)
    assert names == bns


@pytest.mark.parametrize('m,bottom,bns', [
    (0, 8, []), (1, 8, ['bn2_1']), (2, 4, ['bn1_1', 'bn2_1'])])
def test_basic_block_bottom_map_and_step_norms(m, bottom, bns):
    # official BasicBlock: m = 0 attends the bn2 output (planes channels),
    # m = 1 the conv1 output, m = 2 the block input (inplanes channels).
    blk = TDBasicBlock(4, 8, downsample=_down(4, 8, 1), feedback_distance=m,
                       reduction=4)
    assert blk.td.fuse.out_channels == bottom
    assert blk.td.bottom_fc.in_channels == bottom
    assert sorted(n for n, _ in blk.named_children() if '_' in n) == bns


def _count_td_calls(blk, x, steps=None):
    calls = []
    handle = blk.td.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        blk.forward_to_step(x, steps)
    handle.remove()
    return len(calls)


@pytest.mark.parametrize('cls,planes', [(TDBottleneck, 16),
                                        (TDBasicBlock, 64)])
@pytest.mark.parametrize('steps', [1, 2, 3])
def test_m0_applies_the_attention_t_times(cls, planes, steps):
    """Official ``_static_recur_attention_forward_m0`` (Bottleneck and
    BasicBlock): ``for t in range(self.time_steps): x, s_t =
    self.RA_block(x, x, s_t)``, T calls; m >= 1 makes T - 1."""
    x = torch.randn(1, 64, 5, 5)
    blk = cls(64, planes, feedback_distance=0, num_steps=steps,
              reduction=4).eval()
    assert blk.td is not None  # built at T = 1 too: it is used
    assert _count_td_calls(blk, x) == steps
    for t in range(1, steps + 1):  # per-step evaluation: t calls
        assert _count_td_calls(blk, x, t) == t
    if steps > 1:
        blk1 = cls(64, planes, feedback_distance=1, num_steps=steps,
                   reduction=4).eval()
        assert _count_td_calls(blk1, x) == steps - 1
    else:
        assert cls(64, planes, feedback_distance=1, num_steps=1).td is None


def test_m0_basic_block_follows_the_official_forward():
    torch.manual_seed(0)
    blk = TDBasicBlock(8, 8, feedback_distance=0, num_steps=2,
                       reduction=4).eval()
    x = torch.randn(2, 8, 6, 7)
    with torch.no_grad():
        y = blk.bn2(blk.conv2(blk.relu(blk.bn1(blk.conv1(x)))))
        for _ in range(2):
            y = blk.td(y, y)
        torch.testing.assert_close(blk(x), torch.relu(y + x))


def test_three_steps_make_two_sets_of_step_norms():
    blk = TDBasicBlock(8, 8, feedback_distance=2, num_steps=3, reduction=4)
    names = sorted(n for n, _ in blk.named_children() if '_' in n)
    assert names == ['bn1_1', 'bn1_2', 'bn2_1', 'bn2_2']


def test_m1_t2_bottleneck_follows_the_official_pseudocode():
    torch.manual_seed(0)
    blk = TDBottleneck(32, 8, stride=2, downsample=_down(32, 32, 2),
                       reduction=4).eval()
    for m in blk.modules():  # non-trivial statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(2, 32, 9, 11)
    with torch.no_grad():
        shortcut = blk.downsample(x)
        b = blk.relu(blk.bn2(blk.conv2(blk.relu(blk.bn1(blk.conv1(x))))))
        y = blk.bn3(blk.conv3(b))
        b = blk.td(b, y)
        y = blk.bn3_1(blk.conv3(b))
        expected = torch.relu(y + shortcut)
        torch.testing.assert_close(blk(x), expected)


def test_one_step_is_the_plain_block():
    torch.manual_seed(0)
    plain = BasicBlock(8, 8).eval()
    blk = TDBasicBlock(8, 8, num_steps=1, reduction=4).eval()
    blk.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(blk(x), plain(x))


def test_forward_steps_stops_early():
    torch.manual_seed(0)
    blk = TDBottleneck(64, 16, num_steps=3, reduction=4).eval()
    plain = Bottleneck(64, 16).eval()
    plain.load_state_dict(blk.state_dict(), strict=False)
    x = torch.randn(1, 64, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(blk.forward_to_step(x, 1), plain(x))
        torch.testing.assert_close(blk.forward_to_step(x, 3), blk(x))
        assert not torch.allclose(blk.forward_to_step(x, 2), blk(x))
    with pytest.raises(ValueError,
                       match=r'steps must be an integer in \[1, 3\]'):
        blk.forward_to_step(x, 4)


def test_checkpointed_block_gives_the_same_gradients():
    torch.manual_seed(0)
    a = TDBottleneck(64, 16, reduction=4)
    b = TDBottleneck(64, 16, reduction=4, with_cp=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 64, 5, 5, requires_grad=True)
    a(x).sum().backward()
    b(x).sum().backward()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)


@pytest.mark.parametrize('cls,kwargs,match', [
    (TDBottleneck, dict(feedback_distance=4),
     r'feedback_distance must be one of \(0, 1, 2, 3\) for Bottleneck'),
    (TDBasicBlock, dict(feedback_distance=3),
     r'feedback_distance must be one of \(0, 1, 2\) for BasicBlock'),
    (TDBasicBlock, dict(feedback_distance=-1),
     r'feedback_distance must be one of \(0, 1, 2\) for BasicBlock'),
    (TDBottleneck, dict(num_steps=0), 'num_steps must be an integer >= 1'),
])
def test_invalid_block_arguments_are_refused(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(64, 16 if cls is TDBottleneck else 64, reduction=4, **kwargs)


@pytest.mark.parametrize('m,steps', [(1, 2), (2, 3), (3, 3), (0, 2)])
def test_pooled_early_tops_give_the_same_outputs(m, steps):
    torch.manual_seed(0)
    full = TDBottleneck(64, 16, feedback_distance=m, num_steps=steps,
                        reduction=4, pool_early_tops=False)
    pooled = TDBottleneck(64, 16, feedback_distance=m, num_steps=steps,
                          reduction=4)
    pooled.load_state_dict(full.state_dict())
    for mod in (full, pooled):
        for bn in mod.modules():
            if isinstance(bn, nn.BatchNorm2d):  # same random statistics
                torch.manual_seed(1)
                bn.running_mean.uniform_(-0.2, 0.2)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.data.uniform_(0.5, 1.5)
    full.eval(), pooled.eval()
    x = torch.randn(2, 64, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(pooled(x), full(x), rtol=1e-5, atol=1e-5)
        for t in range(1, steps + 1):
            torch.testing.assert_close(pooled.forward_to_step(x, t),
                                       full.forward_to_step(x, t),
                                       rtol=1e-5, atol=1e-5)


def test_pooled_tops_skip_the_early_full_size_conv3():
    from torch.utils.flop_counter import FlopCounterMode
    blk = TDBottleneck(64, 16, reduction=4).eval()
    x = torch.randn(1, 64, 8, 8)
    counts = {}
    for pool in (False, True):
        blk.pool_early_tops = pool
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            blk(x)
        counts[pool] = counter.get_total_flops() // 2
    full_conv3 = 16 * 64 * 8 * 8
    assert counts[False] - counts[True] == full_conv3 - 16 * 64
    blk.train()  # batch statistics: the full top is needed
    assert not blk._can_pool_top(blk.bn3)
