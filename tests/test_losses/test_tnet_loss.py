"""TNetLoss: the official TNet objective (spec 4.4), by hand on tiny inputs."""
import math

import pytest
import torch

from td_plugins.models.losses import TNetLoss
from td_plugins.registry import MODELS


def _ce(z, y):
    return math.log(sum(math.exp(v) for v in z)) - z[y]


LOGITS = [[2., 0., 0.], [0., 1., 0.]]          # R = [1, 0]
LABELS = [0, 2]
FEATS = [[[1., 0., 0.], [0., 1., 0.], [3., 0., 0.]],    # R_k = [0, 1]
         [[0., 0., 1.], [0., 0., 2.], [0., 0., 1.]]]    # R_k = [1, 1]
PROBS = [[0.5, 0.25], [0.2, 0.4]]


def _inputs(requires_grad=False):
    logits = torch.tensor(LOGITS, requires_grad=requires_grad)
    feats = torch.tensor(FEATS, requires_grad=requires_grad)
    log_probs = torch.tensor(PROBS).log().requires_grad_(requires_grad)
    return logits, torch.tensor(LABELS), feats, log_probs


def test_terms_and_baseline_update_by_hand():
    lc, lr, lf = 0.3, 0.4, 0.2
    loss = TNetLoss(lambda_c=lc, lambda_r=lr, lambda_f=lf)
    out = loss(*_inputs(), (1, 2))
    b, big_b, n = 0.5, 2, 3
    reward, feat_reward = [1, 0], [[0, 1], [1, 1]]
    ce = sum(_ce(z, y) for z, y in zip(LOGITS, LABELS)) / big_b
    seq = sum((r - b) * -(math.log(p[0]) + math.log(p[1]))
              for r, p in zip(reward, PROBS)) / big_b
    pf_ce = sum(_ce(z, y) for zs, y in zip(FEATS, LABELS) for z in zs)
    pf_rf = sum((r - b) * -math.log(p) for rs, ps in zip(feat_reward, PROBS)
                for r, p in zip(rs, ps))
    expected = {
        'loss_ce': lc * ce,
        'loss_reinforce': lf * lr * seq,
        'loss_perfeat_ce': (1 - lc) * pf_ce / (n * big_b),
        'loss_perfeat_reinforce': lf * (1 - lr) * pf_rf / ((n - 1) * big_b),
    }
    for key, value in expected.items():
        assert out[key].item() == pytest.approx(value, rel=1e-6), key
    assert out['baseline'].item() == 0.5
    assert out['reward'].item() == 0.5
    # b <- 0.9 b + 0.1 [lr mean(R) + (1 - lr) mean(R_k)]
    new_b = 0.9 * 0.5 + 0.1 * (lr * 0.5 + (1 - lr) * 0.75)
    assert loss.baseline.item() == pytest.approx(new_b)
    # The next step uses the updated b.
    out2 = loss(*_inputs(), (1, 2))
    assert out2['baseline'].item() == pytest.approx(new_b)
    assert loss.baseline.item() == pytest.approx(0.9 * new_b + 0.1 * 0.65)


def test_baseline_is_a_checkpointed_buffer():
    loss = TNetLoss(baseline_init=0.5)
    assert list(dict(loss.named_buffers())) == ['baseline']
    loss(*_inputs(), (1, 2))
    state = loss.state_dict()
    assert state['baseline'].item() == pytest.approx(0.5175)
    fresh = TNetLoss()
    assert fresh.baseline.item() == 0.5
    fresh.load_state_dict(state)
    assert fresh.baseline.item() == pytest.approx(0.5175)


def test_baseline_frozen_in_eval_mode_and_with_one_level():
    loss = TNetLoss().eval()
    loss(*_inputs(), (1, 2))
    assert loss.baseline.item() == 0.5
    loss.train()
    logits, labels, feats, _ = _inputs()
    out = loss(logits, labels, feats[:, :1], torch.zeros(2, 0), (1, ))
    assert sorted(k for k in out if k.startswith('loss')) == ['loss_ce']
    assert loss.baseline.item() == 0.5


def test_stop_gradients():
    """REINFORCE reaches only the log-probabilities, with (R - b) as a
    constant; the CE terms reach only the logits."""
    lc, lr, lf = 0.3, 0.4, 0.2
    loss = TNetLoss(lambda_c=lc, lambda_r=lr, lambda_f=lf)
    logits, labels, feats, log_probs = _inputs(requires_grad=True)
    out = loss(logits, labels, feats, log_probs, (1, 2))
    for key in ('loss_reinforce', 'loss_perfeat_reinforce'):
        g_logits, g_feats = torch.autograd.grad(
            out[key], (logits, feats), retain_graph=True, allow_unused=True)
        assert g_logits is None and g_feats is None, key
    for key in ('loss_ce', 'loss_perfeat_ce'):
        (g_lp, ) = torch.autograd.grad(out[key], (log_probs, ),
                                       retain_graph=True, allow_unused=True)
        assert g_lp is None, key
    (g_seq, ) = torch.autograd.grad(out['loss_reinforce'], (log_probs, ),
                                    retain_graph=True)
    reward = torch.tensor([1., 0.])
    expected = -lf * lr * (reward - 0.5)[:, None].expand(2, 2) / 2
    torch.testing.assert_close(g_seq, expected)
    (g_loc, ) = torch.autograd.grad(out['loss_perfeat_reinforce'],
                                    (log_probs, ))
    feat_reward = torch.tensor([[0., 1.], [1., 1.]])
    torch.testing.assert_close(g_loc, -lf * (1 - lr) * (feat_reward - 0.5)
                               / (2 * 2))


def test_perfeat_cap_keeps_levels_up_to_the_cap():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 4), torch.tensor([1, 3])
    feats = torch.randn(2, 5, 4)                 # levels (1, 2, 2)
    log_probs = torch.rand(2, 4).log()
    capped = TNetLoss(perfeat_cap=2)
    out = capped(logits, labels, feats, log_probs, (1, 2, 2))
    ref = TNetLoss()(logits, labels, feats[:, :3], log_probs[:, :2], (1, 2))
    for key in ('loss_ce', 'loss_perfeat_ce', 'loss_perfeat_reinforce'):
        torch.testing.assert_close(out[key], ref[key])
    # The whole-sequence term still sums the log-probabilities of all levels.
    reward = (logits.argmax(1) == labels).float()
    seq = 0.1 * 0.3 * ((reward - 0.5) * -log_probs.sum(1)).mean()
    torch.testing.assert_close(out['loss_reinforce'], seq)
    assert TNetLoss(perfeat_cap=-1).perfeat_cap is None
    # A cap above the levels is all levels.
    full = TNetLoss(perfeat_cap=5)(logits, labels, feats, log_probs,
                                   (1, 2, 2))
    every = TNetLoss()(logits, labels, feats, log_probs, (1, 2, 2))
    torch.testing.assert_close(full['loss_perfeat_ce'],
                               every['loss_perfeat_ce'])


def test_registered_and_summed_by_mmengine():
    from mmengine.model import BaseModel
    loss = MODELS.build(dict(type='td_plugins.TNetLoss', lambda_c=0.2,
                             lambda_r=0.2))
    assert isinstance(loss, TNetLoss)
    out = loss(*_inputs(), (1, 2))
    total, log_vars = BaseModel.parse_losses(None, out)
    assert total.item() == pytest.approx(
        sum(v.item() for k, v in out.items() if k.startswith('loss_')))
    assert 'baseline' in log_vars and 'reward' in log_vars


@pytest.mark.parametrize('kwargs,match', [
    (dict(lambda_c=1.5), r'lambda_c must be a number in \[0, 1\]'),
    (dict(lambda_r=-0.1), r'lambda_r must be a number in \[0, 1\]'),
    (dict(lambda_f=-1.0), 'lambda_f must be a number >= 0'),
    (dict(baseline_decay=1.0), r'baseline_decay must be a number in \[0, 1\)'),
    (dict(perfeat_cap=1), 'perfeat_cap must be None or -1'),
    (dict(baseline_init='a'), 'baseline_init must be a number'),
])
def test_invalid_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TNetLoss(**kwargs)


def test_mismatched_shapes_are_refused():
    logits, labels, feats, log_probs = _inputs()
    with pytest.raises(ValueError, match=r'log_probs must be \[2, 2\]'):
        TNetLoss()(logits, labels, feats, log_probs[:, :1], (1, 2))
    with pytest.raises(ValueError, match='level_counts must list'):
        TNetLoss()(logits, labels, feats, log_probs, (2, 1))
