"""R2DNS with a stage's flows run concurrently: same results as serial."""
import copy
import threading

import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers import (
    R2DNS,
    FlowBottleneck,
    FlowFn,
    MultiFlowBatchNorm2d,
    MultiFlowBatchNorm3d,
    tdaf_r2dns,
)
from td_plugins.models.layers.tdaf_parallel import run_flows, thread_plan


@pytest.fixture
def one_thread():
    """One intra-op thread, so that serial and parallel flows do the same
    arithmetic (the caller's count is what serial uses)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


class _Stage(nn.Module):
    """conv + multi-flow BN + ReLU, called as ``stage(x, flow)``."""

    takes_flow = True

    def __init__(self, cin, cout, num_flows, dims):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        bn = MultiFlowBatchNorm2d if dims == 2 else MultiFlowBatchNorm3d
        self.conv = conv(cin, cout, 3, 2, 1)
        self.bn = bn(cout, num_flows=num_flows)

    def forward(self, x, flow):
        return torch.relu(self.bn(self.conv(x), flow))


def _net(dims=2, num_flows=3, chans=(8, 16, 16, 32)):
    torch.manual_seed(0)
    cins = (3, ) + chans[:-1]
    stages = nn.ModuleList(_Stage(a, b, num_flows, dims)
                           for a, b in zip(cins, chans))
    r2dns = R2DNS(list(chans), num_flows=num_flows, dims=dims,
                  zero_init_anar=False)
    return nn.ModuleDict(dict(stages=stages, r2dns=r2dns)).double()


def _run(net, mode, x, train):
    net = copy.deepcopy(net).train(train)
    net.r2dns.flow_parallel = mode
    x = x.clone().requires_grad_(train)
    outs = net.r2dns(x, list(net.stages))
    if train:
        sum(o.square().mean() for o in outs).backward()
    return net, outs, x


def _compare(net, x, train):
    (a, out_a, x_a), (b, out_b, x_b) = (_run(net, m, x, train)
                                        for m in ('serial', 'threads'))
    assert all(torch.equal(p, q) for p, q in zip(out_a, out_b))
    for (name, p), q in zip(a.named_buffers(), b.buffers()):
        assert torch.equal(p, q), name
    if train:
        # The shared weights' gradients add the flows' terms in another
        # order (autograd numbers nodes per thread): equal to rounding.
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-12,
                                       atol=1e-14, msg=name)
        torch.testing.assert_close(x_a.grad, x_b.grad, rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('dims', [2, 3])
def test_threads_equal_serial(one_thread, dims, train):
    shape = (2, 3, 32, 33) if dims == 2 else (2, 3, 16, 17, 15)
    x = torch.randn(shape, dtype=torch.float64)
    _compare(_net(dims), x, train)


def test_threads_equal_serial_bottlenecks_with_cp(one_thread):
    torch.manual_seed(0)
    norm = lambda c: MultiFlowBatchNorm2d(c, num_flows=2)  # noqa: E731
    stages = nn.ModuleList()
    for cin, width in ((8, 4), (16, 8)):
        down = nn.Sequential(nn.Conv2d(cin, 4 * width, 1, 2, bias=False),
                             norm(4 * width))
        block = FlowBottleneck(cin, width, 2, down, norm_layer=norm)
        block.with_cp = True
        stages.append(block)
    r2dns = R2DNS([16, 32], num_flows=2, zero_init_anar=False)
    net = nn.ModuleDict(dict(stages=stages, r2dns=r2dns)).double()
    _compare(net, torch.randn(2, 8, 20, 21, dtype=torch.float64), True)


def test_threads_record_the_same_attention(one_thread):
    net = _net()
    maps = []
    for mode in ('serial', 'threads'):
        net.r2dns.flow_parallel = mode
        net.r2dns.record_attention = True
        with torch.no_grad():
            net.eval().r2dns(torch.randn(1, 3, 32, 32, dtype=torch.float64,
                                         generator=torch.Generator()
                                         .manual_seed(1)), list(net.stages))
        maps.append(net.r2dns.attention_maps)
    assert [len(m) for m in maps[0]] == [2, 2, 1, 0]
    for m_a, m_b in zip(*maps):
        assert all(torch.equal(p, q) for p, q in zip(m_a, m_b))


def _where(log):
    return FlowFn(lambda x, k: log.append((k, threading.current_thread()))
                  or x * 2)


def test_threads_run_small_flows_off_the_caller_thread():
    log = []
    xs = {0: torch.ones(1, 1, 2, 2), 1: torch.ones(1, 1, 4, 4)}
    out = run_flows(_where(log), xs, 'threads')
    owner = dict(log)
    assert owner[1] is threading.current_thread()
    assert owner[0] is not threading.current_thread()
    assert torch.equal(out[0], xs[0] * 2) and torch.equal(out[1], xs[1] * 2)


@pytest.mark.parametrize('mode', ['serial', 'streams'])
def test_serial_and_cpu_streams_stay_on_the_caller_thread(mode):
    log = []
    xs = {0: torch.ones(1, 1, 2, 2), 1: torch.ones(1, 1, 4, 4)}
    run_flows(_where(log), xs, mode)
    assert [k for k, _ in log] == [0, 1]
    assert all(t is threading.current_thread() for _, t in log)


def test_workers_copy_grad_inference_and_autocast_modes():
    w = torch.ones(1, requires_grad=True)
    stage = FlowFn(lambda x, k: x * w)
    xs = {0: torch.ones(2), 1: torch.ones(8)}
    assert all(o.requires_grad for o in run_flows(stage, xs,
                                                  'threads').values())
    with torch.no_grad():
        out = run_flows(stage, xs, 'threads')
    assert not any(o.requires_grad for o in out.values())
    with torch.inference_mode():
        out = run_flows(stage, {k: v.clone() for k, v in xs.items()},
                        'threads')
    assert all(o.is_inference() for o in out.values())
    conv = FlowFn(lambda x, k: torch.nn.functional.conv2d(
        x, torch.ones(1, 1, 1, 1)))
    xs = {0: torch.ones(1, 1, 2, 2), 1: torch.ones(1, 1, 4, 4)}
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = run_flows(conv, xs, 'threads')
    assert [o.dtype for o in out.values()] == [torch.bfloat16] * 2


def test_threads_restore_the_callers_thread_count():
    before = torch.get_num_threads()
    net = _net()
    net.r2dns.flow_parallel = 'threads'
    with torch.no_grad():
        net.eval().r2dns(torch.randn(1, 3, 32, 32, dtype=torch.float64),
                         list(net.stages))
    assert torch.get_num_threads() == before


def test_a_failing_worker_raises_in_the_caller():
    def stage(x, k):
        if k == 0:
            raise RuntimeError('flow 0 failed')
        return x

    xs = {0: torch.ones(1), 1: torch.ones(4)}
    with pytest.raises(RuntimeError, match='flow 0 failed'):
        run_flows(FlowFn(stage), xs, 'threads')


def test_distributed_training_runs_threads_serially(monkeypatch):
    log = []
    net = _net(num_flows=2, chans=(4, 8))
    stages = [[_where(log), s] for s in net.stages]
    monkeypatch.setattr(tdaf_r2dns, '_distributed_training',
                        lambda module: True)
    net.r2dns.flow_parallel = 'threads'
    net.r2dns(torch.randn(2, 3, 16, 16, dtype=torch.float64), stages)
    assert all(t is threading.current_thread() for _, t in log)


@pytest.mark.parametrize('threads', [1, 2, 3, 16])
@pytest.mark.parametrize('weights', [[1, 4], [1, 4, 16], [1, 8, 64, 512]])
def test_thread_plan_covers_every_small_flow_once(weights, threads):
    groups, own = thread_plan(weights, threads)
    flows = [k for group, _ in groups for k in group]
    assert flows == list(range(len(weights) - 1))
    assert own >= 1 and all(n >= 1 for _, n in groups)
    assert own + sum(n for _, n in groups) <= max(threads, len(groups) + 1)


def test_invalid_flow_parallel_is_refused():
    with pytest.raises(ValueError, match=r"flow_parallel must be one of "
                       r"\('serial', 'threads', 'streams'\), got 'fork'"):
        R2DNS([4, 8], num_flows=2, flow_parallel='fork')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('train', [False, True])
def test_streams_match_serial_on_cuda(train):
    net = _net().cuda()
    x = torch.randn(2, 3, 32, 33, dtype=torch.float64, device='cuda')
    (a, out_a, _), (b, out_b, _) = (_run(net, m, x, train)
                                    for m in ('serial', 'streams'))
    for p, q in zip(out_a, out_b):
        torch.testing.assert_close(p, q)
    for p, q in zip(a.buffers(), b.buffers()):
        torch.testing.assert_close(p, q)
    if train:
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(p.grad, q.grad)


@pytest.mark.parametrize('mode', ['serial', 'threads', 'streams'])
def test_dynamo_traces_every_mode_without_graph_breaks(mode):
    import torch._dynamo
    torch._dynamo.reset()
    net = _net(num_flows=2, chans=(4, 8)).float()
    net.r2dns.flow_parallel = mode
    explained = torch._dynamo.explain(
        lambda x: net.r2dns(x, list(net.stages)))(torch.rand(1, 3, 16, 16))
    assert explained.graph_break_count == 0, explained.break_reasons
