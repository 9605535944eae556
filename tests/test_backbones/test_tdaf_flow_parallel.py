"""TDAF backbones with flow_parallel: the same results as serial."""
import copy

import pytest
import torch

from td_plugins.models.backbones import TDAFResNet


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _step(model, x, train):
    model = copy.deepcopy(model).train(train)
    x = x.clone().requires_grad_(train)
    outs = model(x)
    outs = outs if isinstance(outs, tuple) else (outs, )
    if train:
        sum(o.square().mean() for o in outs).backward()
    return model, outs


def _assert_same(model, x, train):
    model.r2dns.flow_parallel = 'serial'
    a, out_a = _step(model, x, train)
    model.r2dns.flow_parallel = 'threads'
    b, out_b = _step(model, x, train)
    assert all(torch.equal(p, q) for p, q in zip(out_a, out_b))
    assert all(torch.equal(p, q) for p, q in zip(a.buffers(), b.buffers()))
    if train:
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-12,
                                       atol=1e-14, msg=name)


@pytest.mark.parametrize('train', [False, True])
def test_tdaf_resnet_threads_equal_serial(one_thread, train):
    torch.manual_seed(0)
    model = TDAFResNet(depth=18, num_flows=3, zero_init_anar=False,
                       flow_parallel='threads').double()
    assert model.r2dns.flow_parallel == 'threads'
    _assert_same(model, torch.randn(2, 3, 64, 67, dtype=torch.float64),
                 train)


@pytest.mark.parametrize('train', [False, True])
def test_tdaf_resnet3d_threads_equal_serial(one_thread, train):
    pytest.importorskip('mmaction')
    from td_plugins.models.backbones import TDAFResNet3d
    torch.manual_seed(0)
    model = TDAFResNet3d(depth=18, pretrained=None, base_channels=8,
                         num_flows=3, anar=3, zero_init_anar=False,
                         flow_parallel='threads')
    model.init_weights()
    _assert_same(model.double(),
                 torch.randn(2, 3, 8, 32, 32, dtype=torch.float64), train)


def test_invalid_flow_parallel_is_refused_at_build():
    with pytest.raises(ValueError, match='flow_parallel must be one of'):
        TDAFResNet(depth=18, flow_parallel=True)
