"""SyncBN conversion and optimizer norm rules for TDAF's multi-flow BN."""
import pytest
import torch
import torch.nn as nn

import td_plugins  # noqa: F401 (installs the conversion hooks)
from td_plugins.models.backbones import TDAFResNet
from td_plugins.models.layers import (
    MultiFlowBatchNorm,
    MultiFlowBatchNorm2d,
    SyncMultiFlowBatchNorm,
)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(TDAFResNet(depth=18, num_flows=3),
                         nn.BatchNorm2d(512))


def _check_converted(before, after):
    norms = [m for m in after.modules() if isinstance(m, MultiFlowBatchNorm)]
    assert norms and all(type(m) is SyncMultiFlowBatchNorm for m in norms)
    assert all(m.num_flows == 3 for m in norms)
    assert isinstance(after[1], nn.SyncBatchNorm)  # other BNs: stock
    assert {k: v.shape for k, v in after.state_dict().items()} == before
    # The 2D input check survives the conversion.
    with pytest.raises(ValueError, match='expects a 4-D input'):
        after[0].bn1(torch.rand(1, 64, 2, 2, 2), 0)


def test_mmengine_conversion_and_the_runners_make_sync_multi_flow_bn():
    import mmengine.model
    import mmengine.runner.runner as runner_module
    from mmengine.model import convert_sync_batchnorm
    # The Runner (sync_bn) and the strategies call these very functions.
    assert runner_module.convert_sync_batchnorm is convert_sync_batchnorm
    assert mmengine.model.utils.convert_sync_batchnorm is \
        convert_sync_batchnorm
    model = _model()
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    bias = model[0].layer1[0].bn1.bias
    converted = convert_sync_batchnorm(model, 'torch')
    _check_converted(shapes, converted)
    assert converted[0].layer1[0].bn1.bias is bias  # shared, not copied
    with pytest.raises(ValueError, match='sync_bn should be "torch" or'):
        convert_sync_batchnorm(MultiFlowBatchNorm2d(4), 'apex')


def test_torch_conversion_keeps_the_flows():
    model = _model()
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    _check_converted(shapes, nn.SyncBatchNorm.convert_sync_batchnorm(model))


def test_converted_network_computes_the_same_without_a_process_group():
    from mmengine.model import convert_sync_batchnorm
    torch.manual_seed(3)
    model = TDAFResNet(depth=18, zero_init_anar=False).train()
    sync = TDAFResNet(depth=18, zero_init_anar=False).train()
    sync.load_state_dict(model.state_dict())
    sync = convert_sync_batchnorm(sync)
    x = torch.rand(2, 3, 64, 64)
    for a, b in zip(model(x), sync(x)):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(sync.state_dict(), model.state_dict())


def test_optimizer_constructor_applies_the_norm_rules():
    from mmengine.optim import DefaultOptimWrapperConstructor
    model = TDAFResNet(depth=18, num_flows=3)
    ctor = DefaultOptimWrapperConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='SGD', lr=0.01, weight_decay=1e-4)),
        paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.,
                           norm_decay_mult=0.))
    groups = ctor(model).optimizer.param_groups
    by_param = {id(p): g for g in groups for p in g['params']}
    names = dict(model.named_parameters())

    def group(name):
        return by_param[id(names[name])]

    for name in ('bn1.bias', 'layer1.0.bn1.bias',
                 'r2dns.anars.0.trans_norm.bias'):
        assert group(name)['lr'] == 0.01, name  # norm biases: base lr
        assert group(name)['weight_decay'] == 0, name
    for name in ('bn1.weight', 'r2dns.anars.0.trans_norm.weight'):
        assert group(name)['weight_decay'] == 0, name  # norm_decay_mult
    assert group('conv1.weight')['weight_decay'] == 1e-4
    assert group('r2dns.anars.0.last.bias')['lr'] == 0.02  # a conv bias
