"""TDAFHeatmapHead: SimpleBaseline's deconv head as R2DNS stages."""
import pytest
import torch

pytest.importorskip('mmpose')
from mmpose.models.heads import HeatmapHead  # noqa: E402

from td_plugins.models.heads import TDAFHeatmapHead  # noqa: E402

ARGS = dict(in_channels=32, out_channels=17, deconv_out_channels=(16, 16, 16))


@pytest.fixture(autouse=True)
def other_scope():
    """Build under another codebase's default scope (as other tests leave
    it): the TDAF head must not depend on it."""
    from mmengine.registry import DefaultScope, init_default_scope
    before = DefaultScope._instance_dict.copy()
    init_default_scope('mmpretrain')
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


def _plain_head() -> HeatmapHead:
    from mmpose.registry import MODELS
    with MODELS.switch_scope_and_registry('mmpose'):
        return HeatmapHead(**ARGS)


def test_plain_head_weights_load_and_identity_init():
    torch.manual_seed(0)
    plain = _plain_head()
    plain.init_weights()
    with torch.no_grad():
        for name, buf in plain.named_buffers():
            if name.endswith('running_var'):
                buf.uniform_(0.5, 2.0)
    plain.eval()
    head = TDAFHeatmapHead(num_flows=3, anar=5, **ARGS)
    head.init_weights()
    report = head.load_state_dict(plain.state_dict(), strict=False)
    assert not report.unexpected_keys
    # (A torch BN without version metadata gets num_batches_tracked filled.)
    assert set(report.missing_keys) == {
        k for k in head.state_dict() if k.startswith('r2dns.') and
        not k.endswith('num_batches_tracked')}
    head.eval()
    feats = (torch.rand(2, 32, 8, 6), )
    with torch.no_grad():
        torch.testing.assert_close(head(feats), plain(feats))


def test_flows_run_fewer_deconv_stages_and_every_parameter_learns():
    head = TDAFHeatmapHead(zero_init_anar=False, **ARGS)
    head.init_weights()
    assert len(head.r2dns.anars) == 2
    assert [head.r2dns.num_stages_of_flow(k) for k in range(3)] == [1, 2, 3]
    out = head((torch.rand(2, 32, 9, 7), ))
    assert out.shape == (2, 17, 72, 56)
    out.pow(2).sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_builds_from_mmpose_registry_and_refuses_bad_arguments():
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    head = MODELS.build(dict(type='td_plugins.TDAFHeatmapHead', anar=7,
                             **ARGS))
    assert isinstance(head, HeatmapHead) and head.r2dns.anars[0].depth == 7
    with pytest.raises(ValueError, match=r'num_flows must be an integer in '
                       r'\[1, 3\]'):
        TDAFHeatmapHead(num_flows=4, **ARGS)
    with pytest.raises(ValueError, match='deconv_out_channels must list'):
        TDAFHeatmapHead(in_channels=32, out_channels=17,
                        deconv_out_channels=None)
