"""``td_plugins.TNetLoss``: TNet's training objective as the official code.

Papadopoulos, Korus and Memon, "Hard-Attention for Scalable Image
Classification" (NeurIPS 2021), section 4 (eqs. 1-3: REINFORCE with a
baseline and per-feature regularisation), in the form of the official
``compute_total_loss`` (``ImageNet/train.py``, ``fMoW/train.py``;
``shared/spec/methods.md`` sections 4.4 and 4.6). With B images, R the
0/1 top-1 correctness of the final logits, R_k that of the same classifier
applied to the k-th positional-encoded feature alone, log pi the sum of the
log-probabilities of every selected location (all levels) and log pi_k the
log-probability of the location feature k came from::

    loss_ce                = lc * mean_B CE(logits, y)
    loss_reinforce         = lf * lr * mean_B (R - b) * (-log pi)
    loss_perfeat_ce        = (1 - lc) / (N * B)
                             * sum_B sum_{k < N} CE(fc(f'_k), y)
    loss_perfeat_reinforce = lf * (1 - lr) / ((N - 1) * B)
                             * sum_B sum_{1 <= k < N} (R_k - b) * (-log pi_k)

``(R - b)`` carries no gradient. N counts every feature of the levels up to
``perfeat_cap`` *including* the level-1 (whole image) feature, which the
paper's eq. 3b leaves out (spec 4.6 item 4). After the terms are computed
(with the old b), the baseline, one scalar buffer saved in the state dict,
is updated in training mode::

    b <- decay * b + (1 - decay) * [lr * mean(R) + (1 - lr) * mean_k(R_k)]

(spec 4.6 item 3; init 0.5, decay 0.9). Under ``torch.distributed`` the
update is averaged over the processes, as the official ``MEAN``-aggregated
variable. With one level (no location attended) only ``loss_ce`` remains and
b is left alone, as the official code.

Soft targets (``labels`` ``[B, C]``, mmpretrain's ``gt_score`` after Mixup
or CutMix; the official code has neither, its labels are class indices):
the CE terms use the target distribution q, and the reward of a prediction
is ``R = q[argmax logits]`` (``R_k`` likewise per feature), the expected
top-1 correctness when the label is drawn from q. For one-hot q this is the
0/1 reward above, so hard labels and their one-hot scores give the same
loss. With Mixup ``q = lam * e_a + (1 - lam) * e_b``: R is lam for class
a, 1 - lam for b, 0 otherwise.

Mixed precision: every term is computed in float32 (the logits and
log-probabilities are cast up), whatever dtype autocast gave them.

Normalisation: B is the batch the loss sees, i.e. ``M * B_images`` with M
Monte-Carlo samples (the paper's 1 / (N * M)); the official code divides by
the per-GPU image batch instead, which differs only for M > 1 (never used in
its replication commands).
"""
from typing import Dict, Optional, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from ...registry import MODELS
from ..layers.amp import at_least_float32

__all__ = ['TNetLoss']


def _unit(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= value <= 1.0:
        raise ValueError(f'{name} must be a number in [0, 1], got {value!r}')
    return float(value)


@MODELS.register_module()
class TNetLoss(nn.Module):
    """TNet's cross-entropy + REINFORCE loss with per-feature terms.

    Args:
        lambda_c (float): lc, weight of the whole-image CE against the
            per-feature CE (``perFReg_ce_weight``), in [0, 1]. Defaults to
            0.3 (ImageNet).
        lambda_r (float): lr, weight of the whole-sequence REINFORCE term
            against the per-location one (``perFReg_reinf_weight``), in
            [0, 1]. Defaults to 0.3.
        lambda_f (float): lf, weight of REINFORCE (``reinfornce_reg_w``),
            >= 0. Defaults to 0.1.
        baseline_init (float): Initial b. Defaults to 0.5.
        baseline_decay (float): EMA decay of b, in [0, 1). Defaults to 0.9.
        perfeat_cap (int, optional): Last level (1-based, the whole image
            being level 1) whose features enter the per-feature terms
            (``perFReg_cap``; fMoW stage 2 uses 2); None or -1 for all
            levels. Defaults to None.

    Example:
        >>> import torch
        >>> loss = TNetLoss()
        >>> logits, feat_logits = torch.randn(2, 5), torch.randn(2, 4, 5)
        >>> log_probs = torch.log(torch.rand(2, 3)).requires_grad_()
        >>> out = loss(logits, torch.tensor([0, 3]), feat_logits, log_probs,
        ...            (1, 3))
        >>> sorted(out)
        ['baseline', 'loss_ce', 'loss_perfeat_ce', 'loss_perfeat_reinforce', \
'loss_reinforce', 'reward']
        >>> 'baseline' in loss.state_dict()
        True
    """

    def __init__(self, lambda_c: float = 0.3, lambda_r: float = 0.3,
                 lambda_f: float = 0.1, baseline_init: float = 0.5,
                 baseline_decay: float = 0.9,
                 perfeat_cap: Optional[int] = None) -> None:
        super().__init__()
        self.lambda_c = _unit('lambda_c', lambda_c)
        self.lambda_r = _unit('lambda_r', lambda_r)
        if isinstance(lambda_f, bool) or not isinstance(
                lambda_f, (int, float)) or lambda_f < 0:
            raise ValueError(f'lambda_f must be a number >= 0, got '
                             f'{lambda_f!r}')
        self.lambda_f = float(lambda_f)
        if isinstance(baseline_decay, bool) or not isinstance(
                baseline_decay, (int, float)) or \
                not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f'baseline_decay must be a number in [0, 1), '
                             f'got {baseline_decay!r}')
        self.baseline_decay = float(baseline_decay)
        if isinstance(baseline_init, bool) or not isinstance(
                baseline_init, (int, float)):
            raise ValueError(f'baseline_init must be a number, got '
                             f'{baseline_init!r}')
        if perfeat_cap == -1:
            perfeat_cap = None
        if perfeat_cap is not None and (
                isinstance(perfeat_cap, bool)
                or not isinstance(perfeat_cap, int) or perfeat_cap < 2):
            raise ValueError(f'perfeat_cap must be None or -1 (all levels) '
                             f'or an integer >= 2 (the last 1-based level '
                             f'with per-feature terms), got {perfeat_cap!r}')
        self.perfeat_cap = perfeat_cap
        self.register_buffer('baseline',
                             torch.tensor(float(baseline_init)))

    def _check(self, logits, labels, feature_logits, log_probs,
               level_counts) -> None:
        if logits.dim() != 2:
            raise ValueError(f'logits must be [B, classes], got '
                             f'{tuple(logits.shape)}')
        b, c = logits.shape
        counts = list(level_counts)
        if not counts or counts[0] != 1 or any(
                not isinstance(n, int) or n < 1 for n in counts):
            raise ValueError(f'level_counts must list the features per image '
                             f'of each level, starting with 1, got {counts!r}')
        n = sum(counts)
        if tuple(labels.shape) not in ((b, ), (b, c)):
            raise ValueError(f'labels must be [{b}] class indices or [{b}, '
                             f'{c}] soft targets (gt_score), got '
                             f'{tuple(labels.shape)}')
        if labels.dim() == 2 and not labels.is_floating_point():
            raise ValueError(f'soft targets must be floating point, got '
                             f'{labels.dtype}')
        if tuple(feature_logits.shape) != (b, n, c):
            raise ValueError(f'feature_logits must be [{b}, {n}, {c}], got '
                             f'{tuple(feature_logits.shape)}')
        if tuple(log_probs.shape) != (b, n - 1):
            raise ValueError(f'log_probs must be [{b}, {n - 1}], got '
                             f'{tuple(log_probs.shape)}')

    @staticmethod
    def _reward(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """R: top-1 correctness (hard labels), or the target's mass on the
        predicted class (soft targets), the expected correctness when the
        label is drawn from the target."""
        pred = logits.detach().argmax(dim=1)
        if labels.dim() == 2:
            return labels.gather(1, pred[:, None]).squeeze(1).to(logits.dtype)
        return (pred == labels).to(logits.dtype)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor,
                feature_logits: torch.Tensor, log_probs: torch.Tensor,
                level_counts: Sequence[int]) -> Dict[str, torch.Tensor]:
        """Compute the terms (and update b in training mode).

        Args:
            logits (Tensor): ``[B, C]`` logits of the pooled feature.
            labels (Tensor): ``[B]`` class indices, or ``[B, C]`` soft
                targets (mmpretrain's ``gt_score``, e.g. after Mixup or
                CutMix): CE against the distribution and the soft rewards
                of the module docstring.
            feature_logits (Tensor): ``[B, N, C]`` logits of each feature
                (level by level, the whole image first).
            log_probs (Tensor): ``[B, N - 1]`` log-probability of the
                location of each attended feature (features 1..N-1):
                ``log(p + 1e-10)`` under top-k (official), the conditional
                log-probability of its draw under ``selection='sample'``
                (their sum is then the ordered-sequence log-probability).
            level_counts (Sequence[int]): Features per image at each level,
                e.g. ``(1, 3)`` or ``(1, 2, 2)``; they sum to N.

        Returns:
            dict[str, Tensor]: ``loss_*`` terms (summed by mmengine) and the
            logged ``baseline`` (b used) and ``reward`` (mean R).
        """
        self._check(logits, labels, feature_logits, log_probs, level_counts)
        # float32 (or wider) under autocast, as the float32 official code:
        # the rewards' argmax, the CE terms and the baseline update.
        acc = at_least_float32(logits.dtype)
        logits, feature_logits = logits.to(acc), feature_logits.to(acc)
        log_probs = log_probs.to(acc)
        soft = labels.dim() == 2
        labels = labels.to(acc) if soft else labels.long()
        b = logits.shape[0]
        baseline = self.baseline.detach().clone()
        reward = self._reward(logits, labels)
        out = {'loss_ce': self.lambda_c * F.cross_entropy(logits, labels)}
        out['baseline'] = baseline
        out['reward'] = reward.mean()
        counts = list(level_counts)
        if len(counts) == 1:
            return out
        lf, lr, lc = self.lambda_f, self.lambda_r, self.lambda_c

        seq_log_prob = log_probs.sum(dim=1)
        out['loss_reinforce'] = lf * lr * (
            (reward - baseline) * -seq_log_prob).mean()

        cap = len(counts) if self.perfeat_cap is None else min(
            self.perfeat_cap, len(counts))
        n_cap = sum(counts[:cap])
        feats = feature_logits[:, :n_cap]
        feat_labels = labels[:, None].expand(b, n_cap, *labels.shape[1:])
        ce = F.cross_entropy(feats.reshape(b * n_cap, -1),
                             feat_labels.reshape(b * n_cap,
                                                 *labels.shape[1:]),
                             reduction='sum')
        out['loss_perfeat_ce'] = (1.0 - lc) * ce / (n_cap * b)
        feat_reward = self._reward(
            feats[:, 1:].reshape(b * (n_cap - 1), -1),
            feat_labels[:, 1:].reshape(b * (n_cap - 1),
                                       *labels.shape[1:])).view(b, -1)
        out['loss_perfeat_reinforce'] = lf * (1.0 - lr) * (
            (feat_reward - baseline) * -log_probs[:, :n_cap - 1]).sum() / (
                (n_cap - 1) * b)

        if self.training:
            with torch.no_grad():
                step = lr * reward.mean() + (1.0 - lr) * feat_reward.sum() / (
                    (n_cap - 1) * b)
                if dist.is_available() and dist.is_initialized():
                    step = step.clone()
                    dist.all_reduce(step)
                    step /= dist.get_world_size()
                self.baseline.mul_(self.baseline_decay).add_(
                    (1.0 - self.baseline_decay) * step)
        return out
