"""TNet with soft targets (mmpretrain's gt_score after Mixup / CutMix): soft
CE terms and the reward q[argmax] in TNetLoss; train_cfg batch augments in
TNet (docs/tnet.md, "Soft targets")."""
import copy

import pytest
import torch
import torch.nn.functional as F
from test_tnet_classifier import TINY  # the shared tiny TNet

from td_plugins.models.classifiers import TNet
from td_plugins.models.losses import TNetLoss


def _inputs(b=3, n=3, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g)
    feats = torch.randn(b, n, c, generator=g)
    log_probs = torch.log(torch.rand(b, n - 1, generator=g))
    return logits, feats, log_probs


def test_one_hot_scores_give_the_hard_label_loss():
    logits, feats, log_probs = _inputs()
    labels = torch.tensor([0, 4, 2])
    hard, soft = TNetLoss(), TNetLoss()
    a = hard(logits, labels, feats, log_probs, (1, 2))
    b = soft(logits, F.one_hot(labels, 5).float(), feats, log_probs, (1, 2))
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    torch.testing.assert_close(hard.baseline, soft.baseline)


def test_mixup_targets_soft_ce_and_rewards():
    logits, feats, log_probs = _inputs()
    ya, yb, lam = torch.tensor([0, 4, 2]), torch.tensor([1, 4, 3]), 0.7
    q = lam * F.one_hot(ya, 5).float() + (1 - lam) * F.one_hot(yb, 5).float()
    loss = TNetLoss(lambda_c=0.3, lambda_r=0.3, lambda_f=0.1)
    out = loss(logits, q, feats, log_probs, (1, 2))
    ce = lam * F.cross_entropy(logits, ya) + (1 - lam) * F.cross_entropy(
        logits, yb)
    torch.testing.assert_close(out['loss_ce'], 0.3 * ce)
    # R = q[argmax]: lam, 1 - lam, 1 (a = b) or 0.
    reward = q.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
    torch.testing.assert_close(out['reward'], reward.mean())
    torch.testing.assert_close(out['loss_reinforce'], 0.1 * 0.3 * (
        (reward - 0.5) * -log_probs.sum(1)).mean())
    feat_ce = sum(lam * F.cross_entropy(feats[:, k], ya) + (1 - lam)
                  * F.cross_entropy(feats[:, k], yb) for k in range(3)) / 3
    torch.testing.assert_close(out['loss_perfeat_ce'], 0.7 * feat_ce)
    feat_reward = q.gather(1, feats[:, 1:].argmax(-1))          # [3, 2]
    torch.testing.assert_close(out['loss_perfeat_reinforce'], 0.1 * 0.7 * (
        (feat_reward - 0.5) * -log_probs).mean())


def test_soft_targets_are_checked():
    logits, feats, log_probs = _inputs()
    with pytest.raises(ValueError, match=r'labels must be \[3\] class '
                       r'indices or \[3, 5\] soft targets'):
        TNetLoss()(logits, torch.rand(3, 4), feats, log_probs, (1, 2))
    with pytest.raises(ValueError, match='soft targets must be floating'):
        TNetLoss()(logits, torch.ones(3, 5, dtype=torch.long), feats,
                   log_probs, (1, 2))


def _samples(labels=None, scores=None):
    from mmpretrain.structures import DataSample
    out = []
    for i in range(len(labels if labels is not None else scores)):
        s = DataSample()
        if labels is not None:
            s.set_gt_label(labels[i])
        if scores is not None:
            s.set_gt_score(scores[i])
        out.append(s)
    return out


def _spy(module, seen, key):
    """Record the labels TNetLoss receives (a pre-hook returning None)."""
    def hook(m, args):
        seen[key] = args[1]
    module.register_forward_pre_hook(hook)


def _model(**kwargs):
    torch.manual_seed(0)
    return TNet(**{**TINY, **kwargs})


def test_model_uses_gt_score_when_present():
    model = _model()
    x = torch.rand(2, 3, 64, 64)
    labels = torch.tensor([1, 3])
    a = copy.deepcopy(model).loss(x, _samples(labels.tolist()))
    b = copy.deepcopy(model).loss(
        x, _samples(labels.tolist(), F.one_hot(labels, 4).float()))
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    q = torch.tensor([[0.0, 0.6, 0.0, 0.4], [0.2, 0.0, 0.0, 0.8]])
    seen = {}
    _spy(model.loss_module, seen, 'labels')
    model.loss(x, _samples(labels.tolist(), q))
    torch.testing.assert_close(seen['labels'], q)
    # M Monte-Carlo samples tile the soft targets too.
    tiled = _model(num_samples=2)
    _spy(tiled.loss_module, seen, 'tiled')
    tiled.loss(x, _samples(scores=q))
    torch.testing.assert_close(seen['tiled'], torch.cat([q, q]))


def test_train_cfg_mixup_reaches_the_loss_as_soft_targets():
    model = _model(train_cfg=dict(augments=[dict(type='Mixup', alpha=1.0)]))
    pre = model.data_preprocessor
    assert pre.batch_augments is not None and pre.num_classes == 4
    data = dict(inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8)
                        for _ in range(4)],
                data_samples=_samples([0, 1, 2, 3]))
    torch.manual_seed(1)
    batch = pre(data, training=True)
    scores = torch.stack([s.gt_score for s in batch['data_samples']])
    assert scores.shape == (4, 4)
    torch.testing.assert_close(scores.sum(1), torch.ones(4))
    assert (scores.max(1).values < 1).any()               # really mixed
    seen = {}
    _spy(model.loss_module, seen, 'labels')
    losses = model(**batch, mode='loss')
    torch.testing.assert_close(seen['labels'], scores)
    assert all(torch.isfinite(v) for v in losses.values())
    # Evaluation batches are not mixed (mmpretrain adds one-hot scores).
    plain = pre(dict(inputs=data['inputs'],
                     data_samples=_samples([0, 1, 2, 3])), training=False)
    assert torch.equal(torch.stack([s.gt_score for s in
                                    plain['data_samples']]).float(),
                       torch.eye(4))


@pytest.mark.parametrize('kwargs,samples,match', [
    (dict(train_cfg=dict(mixup=0.8)), None, r"train_cfg must be None or a "
     r"dict with 'augments'"),
    (dict(train_cfg=[dict(type='Mixup')]), None, 'train_cfg must be None'),
    (dict(), dict(scores=torch.rand(2, 7)), r'gt_score must hold '
     r'num_classes=4 scores per sample, got \(2, 7\)'),
    (dict(), dict(labels=[[0, 2], [1]]), 'gt_label must hold one class per '
     'sample'),
])
def test_invalid_targets_are_refused(kwargs, samples, match):
    with pytest.raises(ValueError, match=match):
        model = _model(**kwargs)
        model.loss(torch.rand(2, 3, 64, 64), _samples(**samples))


def test_a_mixed_batch_is_refused():
    s = _samples([0, 1])
    s[0].set_gt_score(torch.tensor([1.0, 0, 0, 0]))
    with pytest.raises(ValueError, match='every data sample has gt_score'):
        _model().loss(torch.rand(2, 3, 64, 64), s)
