"""Multi-flow BN's cached per-flow statistics views (R2DNS's norms)."""
import copy

import torch
import torch.nn as nn

from td_plugins.models.layers import MultiFlowBatchNorm2d


def _batches(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, 5, 5, generator=gen), k % 3)
            for k in range(n)]


def _plain(mfbn):
    """One plain BN per flow, sharing mfbn's affine and start statistics."""
    bns = []
    for k in range(mfbn.num_flows):
        bn = nn.BatchNorm2d(3, momentum=mfbn.momentum)
        bn.weight, bn.bias = mfbn.weight, mfbn.bias
        bns.append(bn)
    return bns


def test_statistics_equal_one_plain_bn_per_flow():
    for momentum in (0.1, None):
        mfbn = MultiFlowBatchNorm2d(3, num_flows=3, momentum=momentum)
        bns = _plain(mfbn)
        for x, k in _batches(7):
            assert torch.equal(mfbn(x, k), bns[k](x))
        for k, bn in enumerate(bns):
            assert torch.equal(mfbn.running_mean[k], bn.running_mean)
            assert torch.equal(mfbn.running_var[k], bn.running_var)
            assert mfbn.num_batches_tracked[k] == bn.num_batches_tracked


def test_views_follow_new_buffers_after_to_and_copy():
    mfbn = MultiFlowBatchNorm2d(3, num_flows=3)
    mfbn(torch.randn(4, 3, 5, 5), 1)  # views of the float32 buffers made
    mfbn.double()
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    mfbn(x, 1)
    assert mfbn.running_mean.dtype == torch.float64
    assert mfbn.num_batches_tracked.tolist() == [0, 2, 0]
    twin = copy.deepcopy(mfbn)
    twin(x, 2)
    assert mfbn.num_batches_tracked.tolist() == [0, 2, 0]
    assert twin.num_batches_tracked.tolist() == [0, 2, 1]
    mfbn.running_mean.data = torch.zeros(3, 3, dtype=torch.float64)
    mfbn(x, 0)
    assert mfbn.running_mean[0].abs().sum() > 0


def test_loaded_statistics_are_used_and_inference_first_then_train():
    mfbn = MultiFlowBatchNorm2d(3, num_flows=2).eval()
    x = torch.randn(2, 3, 4, 4)
    with torch.inference_mode():
        mfbn(x, 0)  # views made inside inference mode
    state = {k: v.clone() for k, v in mfbn.state_dict().items()}
    state['running_mean'] = torch.full((2, 3), 2.0)
    mfbn.load_state_dict(state)
    want = (x - 2.0) / torch.sqrt(torch.ones(1) + mfbn.eps)
    torch.testing.assert_close(mfbn(x, 0), want)
    mfbn.train()(x, 1)  # in place, outside inference mode: no error
    assert mfbn.num_batches_tracked.tolist() == [0, 1]
