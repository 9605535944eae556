"""TNet's ``'sample'`` selection: sequential sampling without replacement and
the log-probability fed to REINFORCE, against an exact enumeration on a
4-cell grid (paper section 3.1 and eq. 1; docs/tnet.md)."""
import itertools
import math

import pytest
import torch

from td_plugins.models.classifiers import TNet
from td_plugins.models.layers.tnet_grid import (
    sample_without_replacement,
    sequential_log_probs,
)

P = (0.1, 0.2, 0.3, 0.4)


def _exact_sequences(p, k):
    """Every ordered draw of k distinct cells and its probability under
    sequential sampling without replacement: prod_i p_ci / (1 - sum_{j<i}
    p_cj), written out with plain floats."""
    table = {}
    for seq in itertools.permutations(range(len(p)), k):
        prob, used = 1.0, 0.0
        for c in seq:
            prob *= p[c] / (1.0 - used)
            used += p[c]
        table[seq] = prob
    return table


def _exact_sets(p, k):
    sets = {}
    for seq, prob in _exact_sequences(p, k).items():
        key = tuple(sorted(seq))
        sets[key] = sets.get(key, 0.0) + prob
    return sets


@pytest.mark.parametrize('k', [1, 2, 3, 4])
def test_sequence_log_prob_equals_the_exact_enumeration(k):
    table = _exact_sequences(P, k)
    assert math.isclose(sum(table.values()), 1.0, rel_tol=1e-12)
    seqs = torch.tensor(list(table))
    probs = torch.tensor(P, dtype=torch.float64).expand(len(seqs), 4)
    log_p = sequential_log_probs(probs, seqs, eps=0.0)
    exact = torch.tensor([math.log(v) for v in table.values()],
                         dtype=torch.float64)
    err = (log_p.sum(dim=1) - exact).abs().max().item()
    assert err < 1e-12
    # With the official eps (float32, as the model) the error stays tiny.
    log_p32 = sequential_log_probs(probs.float(), seqs)
    assert (log_p32.sum(dim=1).double() - exact).abs().max() < 1e-6
    # Each term is the conditional probability of its draw.
    first = seqs[:, 0]
    torch.testing.assert_close(log_p[:, 0], torch.log(probs[0, first]))


def test_gradient_through_the_softmax_equals_the_literal_formula():
    """The renormalising term is differentiated: through the softmax the
    logit gradient of the mass-of-the-undrawn-cells form equals that of
    the literal ``log p_a + log p_b - log(1 - p_a)``."""
    logits = torch.tensor([[0.3, -1.2, 0.8, 0.1]], dtype=torch.float64,
                          requires_grad=True)
    p = logits.softmax(dim=1)
    ours = torch.autograd.grad(sequential_log_probs(
        p, torch.tensor([[2, 0]]), eps=0.0).sum(), logits)[0]
    p = logits.softmax(dim=1)
    literal = torch.autograd.grad(
        p[0, 2].log() + p[0, 0].log() - (1 - p[0, 2]).log(), logits)[0]
    torch.testing.assert_close(ours, literal)
    p = logits.softmax(dim=1)
    plain = torch.autograd.grad(p[0, 2].log() + p[0, 0].log(), logits)[0]
    assert (plain - ours).abs().max() > 1e-2     # the old sum of log p


def test_seeded_sampler_frequencies_match_the_exact_probabilities():
    n = 200_000
    gen = torch.Generator().manual_seed(1234)
    probs = torch.tensor(P).expand(n, 4)
    draws = sample_without_replacement(probs, 2, gen)
    assert (draws[:, 0] != draws[:, 1]).all()
    table = _exact_sequences(P, 2)
    codes = draws[:, 0] * 4 + draws[:, 1]
    counts = torch.bincount(codes, minlength=16).double() / n
    errors = []
    for (a, b), prob in table.items():
        sigma = math.sqrt(prob * (1 - prob) / n)
        err = abs(counts[a * 4 + b].item() - prob)
        errors.append(err)
        assert err < 5 * sigma, ((a, b), counts[a * 4 + b].item(), prob)
    assert max(errors) < 0.003
    # Unordered sets as well (the cells the model attends).
    sets = _exact_sets(P, 2)
    for (a, b), prob in sets.items():
        freq = (counts[a * 4 + b] + counts[b * 4 + a]).item()
        assert abs(freq - prob) < 5 * math.sqrt(prob * (1 - prob) / n)


def test_sampler_is_reproducible_and_refuses_bad_arguments():
    probs = torch.tensor([P])
    a = sample_without_replacement(probs, 3,
                                   torch.Generator().manual_seed(7))
    b = sample_without_replacement(probs, 3,
                                   torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r'k must be an integer in \[1, 4\]'):
        sample_without_replacement(probs, 5)
    with pytest.raises(ValueError, match=r'probs must be \[K, cells\]'):
        sample_without_replacement(probs[0], 1)
    with pytest.raises(ValueError, match=r'order must be \[1, k\]'):
        sequential_log_probs(probs, torch.tensor([0, 1]))


# A 2 x 2 grid (4 cells) on the tiny ResNet_CIFAR: stage 3 (8 x 8 at the
# 32-pixel base resolution) at rows/columns 2 and 6.
GRID4 = dict(
    backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=8,
                  base_channels=8, out_indices=(2, 3)),
    num_classes=4, feat_dim=64, grid_size=2, overlap=0.5, base_resolution=32,
    grid_index=0, feature_index=1, grid_slice=(2, None, 4), pos_dim=24,
    num_levels=2, locations_per_level=[2], selection='sample',
    test_cfg=dict(selection='sample'))


def _model_and_probs(batch):
    torch.manual_seed(0)
    model = TNet(**GRID4).eval()
    captured = []
    model.location_module.register_forward_hook(
        lambda m, args, out: captured.append(out.detach().double()))
    x = torch.rand(1, 3, 64, 64).expand(batch, 3, 64, 64).contiguous()
    return model, x, captured


def test_model_log_prob_of_a_sampled_selection_is_exact():
    model, x, captured = _model_and_probs(64)
    with torch.no_grad():
        out = model.traverse(x)
    p = captured[0]                                       # [64, 4]
    assert torch.allclose(p, p[:1].expand_as(p))         # same image
    p0 = p[0].tolist()
    cells = out['boxes'][:, :, :2]                        # (x1, y1) per cell
    table = _exact_sequences(p0, 2)
    worst = 0.0
    for i in range(x.shape[0]):
        # The cell of each feature from its box: 32-pixel cells, row-major.
        ids = [int(y // 32) * 2 + int(xx // 32)
               for xx, y in cells[i].tolist()]
        assert ids == sorted(ids) and len(set(ids)) == 2
        a, b = ids
        got = out['log_probs'][i].double()
        # Per feature: log p of its draw given the earlier one; the model
        # drew (a, b) or (b, a): exactly one assignment must match.
        ab = torch.tensor([math.log(p0[a]),
                           math.log(p0[b] / (1 - p0[a]))])
        ba = torch.tensor([math.log(p0[a] / (1 - p0[b])),
                           math.log(p0[b])])
        e_ab, e_ba = (got - ab).abs().max(), (got - ba).abs().max()
        err = min(e_ab, e_ba).item()
        assert err < 1e-5, (i, got, ab, ba)
        seq = (a, b) if e_ab < e_ba else (b, a)
        worst = max(worst, abs(got.sum().item() - math.log(table[seq])))
        torch.testing.assert_close(out['probs'][i].double(),
                                   torch.tensor([p0[a], p0[b]],
                                                dtype=torch.float64))
    assert worst < 1e-5


def test_model_sampled_sets_follow_the_exact_set_probabilities():
    n = 4000
    model, x, captured = _model_and_probs(n)
    torch.manual_seed(3)
    with torch.no_grad():
        out = model.traverse(x)
    p0 = captured[0][0].tolist()
    corners = out['boxes'][:, :, :2]
    ids = (corners[..., 1] // 32) * 2 + corners[..., 0] // 32    # [n, 2]
    codes = (ids[:, 0] * 4 + ids[:, 1]).long()
    freq = torch.bincount(codes, minlength=16).double() / n
    for (a, b), prob in _exact_sets(p0, 2).items():
        sigma = math.sqrt(prob * (1 - prob) / n)
        assert abs(freq[a * 4 + b].item() - prob) < 5 * sigma + 1e-3


def test_loss_uses_the_sequence_log_prob_in_sample_mode():
    """REINFORCE's whole-sequence term is -(R - b) * sum of the per-draw
    terms, i.e. the ordered-sequence log-probability."""
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = TNet(**GRID4)
    x = torch.rand(2, 3, 64, 64)
    torch.manual_seed(5)
    losses = model.loss(x, [DataSample().set_gt_label(y) for y in (0, 1)])
    assert torch.isfinite(losses['loss_reinforce'])
    grads = torch.autograd.grad(losses['loss_reinforce'],
                                list(model.location_module.parameters()),
                                allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
