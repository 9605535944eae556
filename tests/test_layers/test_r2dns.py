"""R2DNS (TDAF eqs. 1, 2, 5): flows, stage counts, gating, order."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers import R2DNS, MultiFlowBatchNorm2d


class _Stage(nn.Module):
    """conv + multi-flow BN that logs (stage, flow, input size) per call;
    called as ``stage(x, flow)``."""

    takes_flow = True

    def __init__(self, idx, cin, cout, log, num_flows):
        super().__init__()
        self.idx, self.log = idx, log
        self.conv = nn.Conv2d(cin, cout, 3, 2, 1)
        self.bn = MultiFlowBatchNorm2d(cout, num_flows=num_flows)

    def forward(self, x, flow):
        self.log.append(('stage', self.idx, flow, x.shape[-1]))
        return torch.relu(self.bn(self.conv(x), flow))


def _net(num_flows, log, chans=(4, 8, 16, 32), **kwargs):
    cins = (3, ) + chans[:-1]
    stages = nn.ModuleList(_Stage(i, a, b, log, num_flows)
                           for i, (a, b) in enumerate(zip(cins, chans)))
    return stages, R2DNS(list(chans), num_flows=num_flows, **kwargs)


def test_flow_lengths_follow_eq_1_and_inputs_eq_2():
    log = []
    stages, r2dns = _net(3, log)
    r2dns(torch.rand(1, 3, 64, 64), stages)
    runs = [(s, f, w) for _, s, f, w in log]
    # L = 4, N = 3: flows run 2, 3 and 4 stages; flow k sees 64 / 2^(2-k).
    per_flow = {f: [s for s, ff, _ in runs if ff == f] for f in range(3)}
    assert per_flow == {0: [0, 1], 1: [0, 1, 2], 2: [0, 1, 2, 3]}
    first_inputs = {f: w for s, f, w in runs if s == 0}
    assert first_inputs == {0: 16, 1: 32, 2: 64}
    assert [r2dns.num_stages_of_flow(k) for k in range(3)] == [2, 3, 4]


def test_stage_major_order_and_only_last_flow_returned():
    log = []
    stages, r2dns = _net(2, log)
    outs = r2dns(torch.rand(2, 3, 32, 32), stages)
    assert [(s, f) for _, s, f, _ in log] == [
        (0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 1)]
    assert [tuple(o.shape) for o in outs] == [
        (2, 4, 16, 16), (2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2)]


def test_one_anar_per_gated_stage_shared_by_flows():
    for n in (2, 3, 4):
        assert len(_net(n, [])[1].anars) == 3
    assert len(_net(1, [])[1].anars) == 0
    _, r2dns = _net(3, [], anar=5)
    assert r2dns.anars[2].trans.in_channels == 16


def test_attention_maps_per_stage_and_flow():
    stages, r2dns = _net(3, [], zero_init_anar=False)
    r2dns.record_attention = True
    r2dns(torch.rand(1, 3, 64, 64), stages)
    shapes = [[tuple(g.shape) for g in m] for m in r2dns.attention_maps]
    assert shapes == [[(1, 1, 16, 16), (1, 1, 32, 32)],
                      [(1, 1, 8, 8), (1, 1, 16, 16)],
                      [(1, 1, 8, 8)], []]


def test_single_flow_is_the_plain_network():
    stages, r2dns = _net(1, [])
    x = torch.rand(1, 3, 32, 32)
    y = x
    for s in stages:
        y = s(y, 0)
    assert torch.equal(r2dns(x, stages)[-1], y)


@pytest.mark.parametrize('size', [(63, 65), (33, 17)])
def test_odd_sizes_work_through_all_flows(size):
    stages, r2dns = _net(3, [], zero_init_anar=False)
    outs = r2dns(torch.rand(1, 3, *size), stages)
    assert outs[0].shape[-2:] == tuple((s + 1) // 2 for s in size)


def test_every_parameter_gets_a_gradient():
    stages, r2dns = _net(3, [], zero_init_anar=False)
    outs = r2dns(torch.rand(2, 3, 48, 48), stages)
    sum(o.pow(2).sum() for o in outs).backward()
    for module in (stages, r2dns):
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('num_flows', [0, 5, 2.0, True])
def test_invalid_num_flows_is_refused(num_flows):
    with pytest.raises(ValueError, match=r'num_flows must be an integer in '
                       r'\[1, 4\] \(the number of stages\)'):
        R2DNS([4, 8, 16, 32], num_flows=num_flows)


def test_wrong_number_of_stages_is_refused():
    stages, r2dns = _net(2, [])
    with pytest.raises(ValueError, match='built for 4 stages, got 3'):
        r2dns(torch.rand(1, 3, 16, 16), stages[:3])


def test_inference_gates_in_place_with_the_same_result():
    stages, r2dns = _net(3, [], zero_init_anar=False)
    stages.eval(), r2dns.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.enable_grad():
        x_grad = x.clone().requires_grad_()
        expected = [o.detach() for o in r2dns(x_grad, stages)]
    with torch.no_grad():
        got = r2dns(x, stages)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)


class _PassThrough(nn.Module):
    """A stage that returns (a view of) its input, as a user stage may."""

    def forward(self, x):
        return x.view_as(x)


def test_in_place_gate_spares_tensors_a_stage_passes_through():
    r2dns = R2DNS([3, 3], num_flows=2, zero_init_anar=False).eval()
    stages = [_PassThrough(), _PassThrough()]
    x = torch.rand(1, 3, 8, 8)
    x_before = x.clone()
    with torch.no_grad():
        outs = r2dns(x, stages)
    torch.testing.assert_close(x, x_before)  # the user's input is untouched
    g = r2dns.anars[0](r2dns.dsf(x_before), flow=0)
    torch.testing.assert_close(outs[0], x_before * (g + 0.5))
