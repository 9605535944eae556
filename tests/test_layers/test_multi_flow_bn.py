"""MultiFlowBatchNorm (TDAF eq. 4): shared affine, per-flow statistics."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.layers import (
    MultiFlowBatchNorm2d,
    MultiFlowBatchNorm3d,
    SyncMultiFlowBatchNorm,
)


def test_each_flow_keeps_its_own_running_statistics():
    torch.manual_seed(0)
    bn = MultiFlowBatchNorm2d(4, num_flows=3, momentum=None)  # cumulative
    means = [-2.0, 0.5, 3.0]
    for _ in range(5):
        for flow, mean in enumerate(means):
            bn(torch.randn(16, 4, 6, 6) * (flow + 1) + mean, flow)
    for flow, mean in enumerate(means):
        assert torch.allclose(bn.running_mean[flow],
                              torch.full((4, ), mean), atol=0.1)
        assert torch.allclose(bn.running_var[flow],
                              torch.full((4, ), float((flow + 1) ** 2)),
                              rtol=0.15)
    assert bn.num_batches_tracked.tolist() == [5, 5, 5]


def test_eval_uses_the_flow_statistics_and_shared_affine():
    bn = MultiFlowBatchNorm2d(2, num_flows=2)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([[1.0, 1.0], [5.0, 5.0]]))
        bn.running_var.fill_(4.0)
        bn.weight.fill_(3.0)
        bn.bias.fill_(1.0)
    bn.eval()
    x = torch.full((1, 2, 1, 1), 5.0)
    out0 = bn(x, 0)
    out1 = bn(x, flow=1)
    eps = bn.eps
    assert torch.allclose(out0, torch.full_like(x, 3 * 4 / (4 + eps) ** .5
                                                + 1))
    assert torch.allclose(out1, torch.ones_like(x))
    # Eval mode does not touch the statistics.
    assert bn.running_mean[1].tolist() == [5.0, 5.0]


def test_matches_batchnorm_for_one_flow():
    torch.manual_seed(1)
    ref = nn.BatchNorm3d(3)
    mf = MultiFlowBatchNorm3d(3, num_flows=1)
    x = torch.randn(4, 3, 2, 5, 5)
    assert torch.allclose(ref(x), mf(x), atol=1e-6)
    assert torch.allclose(ref.running_mean, mf.running_mean[0])


def test_plain_batchnorm_weights_load_into_every_flow():
    ref = nn.BatchNorm2d(3)
    with torch.no_grad():
        ref.running_mean.copy_(torch.tensor([1., 2., 3.]))
        ref.weight.copy_(torch.tensor([4., 5., 6.]))
    mf = MultiFlowBatchNorm2d(3, num_flows=3)
    mf.load_state_dict(ref.state_dict())
    assert torch.equal(mf.running_mean, ref.running_mean.expand(3, 3))
    assert torch.equal(mf.weight, ref.weight)
    ref.eval()
    mf.eval()
    x = torch.randn(2, 3, 4, 4)
    for flow in range(3):
        assert torch.allclose(mf(x, flow), ref(x))
    # Its own layout round-trips.
    again = MultiFlowBatchNorm2d(3, num_flows=3)
    again.load_state_dict(mf.state_dict())
    assert torch.equal(again.running_var, mf.running_var)


def test_every_parameter_gets_a_gradient():
    bn = MultiFlowBatchNorm2d(3, num_flows=2)
    loss = 0
    for flow in range(2):
        loss = loss + (bn(torch.randn(4, 3, 3, 3), flow) ** 2).sum()
    loss.backward()
    for name, p in bn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_builds_as_an_mmcv_norm_layer():
    from mmcv.cnn import build_norm_layer
    name, layer = build_norm_layer(
        dict(type='td_plugins.MFBN2d', num_flows=4, requires_grad=False), 8,
        postfix=1)
    assert name == 'bn1'
    assert isinstance(layer, MultiFlowBatchNorm2d) and layer.num_flows == 4
    assert not layer.weight.requires_grad


@pytest.mark.parametrize('num_flows', [0, -1, 1.5])
def test_invalid_num_flows_is_refused(num_flows):
    with pytest.raises(ValueError, match='num_flows must be an integer >= 1'):
        MultiFlowBatchNorm2d(4, num_flows=num_flows)


def test_invalid_flow_and_input_rank_are_refused():
    bn = MultiFlowBatchNorm2d(4, num_flows=2)
    x = torch.randn(2, 4, 3, 3)
    for flow in (2, -1, 1.0, True):
        with pytest.raises(ValueError,
                           match=r'flow must be an integer in \[0, 2\)'):
            bn(x, flow)
    with pytest.raises(ValueError, match='expects a 4-D input'):
        bn(torch.randn(2, 4, 3, 3, 3), 0)
    with pytest.raises(ValueError, match='track_running_stats must be True'):
        MultiFlowBatchNorm2d(4, track_running_stats=False)


def test_a_call_without_a_flow_is_refused_when_there_are_several():
    bn = MultiFlowBatchNorm2d(4, num_flows=3)
    with pytest.raises(ValueError, match=r'called without a flow: call it '
                       r'as bn\(x, flow\) with flow in \[0, 3\)'):
        bn(torch.randn(2, 4, 3, 3))
    one = MultiFlowBatchNorm2d(4, num_flows=1)  # one flow: no flow needed
    assert one(torch.randn(2, 4, 3, 3)).shape == (2, 4, 3, 3)


def test_is_a_batchnorm_for_pytorch_and_mmengine():
    from torch.nn.modules.batchnorm import _BatchNorm
    bn = MultiFlowBatchNorm2d(4, num_flows=2)
    assert isinstance(bn, _BatchNorm)
    assert [k for k, _ in bn.named_parameters()] == ['weight', 'bias']
    assert {k: tuple(v.shape) for k, v in bn.state_dict().items()} == {
        'weight': (4, ), 'bias': (4, ), 'running_mean': (2, 4),
        'running_var': (2, 4), 'num_batches_tracked': (2, )}
    bn.running_mean.fill_(3.0)
    bn.num_batches_tracked.fill_(5)
    bn.reset_running_stats()  # _BatchNorm's own method, per flow
    assert bn.running_mean.abs().sum() == 0
    assert bn.num_batches_tracked.tolist() == [0, 0]


def test_output_dtype_under_autocast_matches_batchnorm():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 8, 8)
    for layer in (MultiFlowBatchNorm2d(4, num_flows=2),
                  SyncMultiFlowBatchNorm(4, num_flows=2)):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            y = conv(x)
            ours = layer(y, 1)
            ref = nn.BatchNorm2d(4)(y)
        assert ours.dtype == ref.dtype == torch.bfloat16
        assert layer.running_mean.dtype == torch.float32


def test_sync_form_without_a_process_group_is_multi_flow_bn():
    torch.manual_seed(2)
    ref = MultiFlowBatchNorm2d(3, num_flows=2)
    sync = SyncMultiFlowBatchNorm(3, num_flows=2)
    sync.load_state_dict(ref.state_dict())
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(sync(x, 1), ref(x, 1))
    torch.testing.assert_close(sync.running_var, ref.running_var)
    assert sync.num_batches_tracked.tolist() == [0, 1]


def test_builds_the_sync_form_by_name():
    from mmcv.cnn import build_norm_layer

    import td_plugins  # noqa: F401 (registers the names)
    name, layer = build_norm_layer(
        dict(type='td_plugins.SyncMFBN', num_flows=2), 8, postfix=2)
    assert name == 'bn2' and type(layer) is SyncMultiFlowBatchNorm
    assert layer.num_flows == 2
