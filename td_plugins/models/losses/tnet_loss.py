"""``td_plugins.TNetLoss``: TNet's training objective as the official code.

Papadopoulos et al., "Hard-Attention for Scalable Image Classification"
(NeurIPS 2021), sections 4.1-4.2, eqs. 1-3; details in docs/tnet.md,
"Training: `td_plugins.TNetLoss`".
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
        lambda_c (float): lc, whole-image CE against per-feature CE
            (``perFReg_ce_weight``), in [0, 1]. Defaults to 0.3 (ImageNet).
        lambda_r (float): lr, whole-sequence against per-location REINFORCE
            (``perFReg_reinf_weight``), in [0, 1]. Defaults to 0.3.
        lambda_f (float): lf, REINFORCE weight (``reinfornce_reg_w``), >= 0.
            Defaults to 0.1.
        baseline_init (float): Initial b. Defaults to 0.5.
        baseline_decay (float): EMA decay of b, in [0, 1). Defaults to 0.9.
        perfeat_cap (int, optional): Last 1-based level with per-feature terms
            (``perFReg_cap``); None or -1 for all. Defaults to None.

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
        """R: top-1 correctness, or the soft target's mass on the
        prediction."""
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
            labels (Tensor): ``[B]`` class indices or ``[B, C]`` soft targets.
            feature_logits (Tensor): ``[B, N, C]`` logits of each feature,
                level by level, the whole image first.
            log_probs (Tensor): ``[B, N - 1]`` log-probability of the
                location of each attended feature.
            level_counts (Sequence[int]): Features per image at each level,
                e.g. ``(1, 3)``; they sum to N.

        Returns:
            dict[str, Tensor]: ``loss_*`` terms, ``baseline`` (b used) and
            ``reward`` (mean R).
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
