"""``TDAMResNet(train_early_tops=...)``: moment tops train exactly what full
tops train (float64, BNs in training mode), R-50; R-18 has none."""
import pytest
import torch
import torch.nn as nn

from td_plugins.models.backbones import TDAMResNet


def _close(a, b, what):
    # relative to the tensor's largest entry: float64 rounding is ~1e-14 of
    # it here (at batch 2 and 1x1 layer4 maps BN is too ill-conditioned)
    err = (a - b).abs().max().item()
    assert err <= 1e-10 * b.abs().max().item(), f'{what}: {err:.3g}'


def _models(depth, momentum, with_cp, steps=2):
    models = []
    for mode in ('full', 'moments'):
        torch.manual_seed(0)
        model = TDAMResNet(depth=depth, num_steps=steps, with_cp=with_cp,
                           zero_init_residual=False, out_indices=(2, 3),
                           train_early_tops=mode).double()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = momentum
        models.append(model)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in models[0].modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.5, 0.5, generator=gen)
    models[1].load_state_dict(models[0].state_dict())
    return models


@pytest.mark.parametrize('with_cp,momentum,steps', [
    (False, 0.1, 2), (True, 0.1, 2), (False, None, 3)])
def test_resnet50_moment_tops_train_as_full_tops(moment_top_calls, with_cp,
                                                 momentum, steps):
    calls = moment_top_calls
    full, mom = _models(50, momentum, with_cp, steps)
    assert list(mom.state_dict()) == list(full.state_dict())
    gen = torch.Generator().manual_seed(2)
    for it in range(2):
        x = torch.randn(4, 3, 48, 48, dtype=torch.float64, generator=gen)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        outs1, outs2 = full(x1), mom(x2)
        loss1 = loss2 = 0
        for o1, o2 in zip(outs1, outs2):
            _close(o2, o1, 'output')
            w = torch.randn(o1.shape, dtype=torch.float64, generator=gen)
            loss1, loss2 = loss1 + (o1 * w).sum(), loss2 + (o2 * w).sum()
        loss1.backward()
        loss2.backward()
        _close(x2.grad, x1.grad, 'input gradient')
    # 9 TD blocks (layer3: 6, layer4: 3), T - 1 early tops each, 2 passes
    assert len(calls) == 2 * 9 * (steps - 1) * (2 if with_cp else 1)
    for (name, p1), p2 in zip(full.named_parameters(), mom.parameters()):
        _close(p2.grad, p1.grad, f'{name} gradient')
    for (name, b1), b2 in zip(full.named_buffers(), mom.buffers()):
        _close(b2.double(), b1.double(), name)
    full.eval(), mom.eval()
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    for o1, o2 in zip(full(x), mom(x)):
        _close(o2, o1, 'eval output')  # running statistics: rounding apart


def test_resnet50_default_is_auto_and_norm_eval_uses_running_stats(
        moment_top_calls):
    calls = moment_top_calls
    model = TDAMResNet(depth=50, norm_eval=True)
    assert {b.train_early_tops for b in model.modules()
            if hasattr(b, 'train_early_tops')} == {'auto'}
    model.train()  # norm_eval: every BN in eval mode
    model(torch.randn(2, 3, 64, 64))
    assert calls == []


def test_resnet18_has_no_moment_tops(moment_top_calls):
    calls = moment_top_calls
    TDAMResNet(depth=18, num_steps=2)(torch.randn(2, 3, 64, 64))
    assert calls == []
    with pytest.raises(ValueError, match=r"train_early_tops='moments' needs "
                       r'a Bottleneck block .* got a BasicBlock'):
        TDAMResNet(depth=18, train_early_tops='moments')
    with pytest.raises(ValueError, match=r'train_early_tops must be one of'):
        TDAMResNet(depth=50, train_early_tops=True)
