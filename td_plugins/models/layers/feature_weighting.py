"""TNet feature weighting: a learned weighted mean of the attended features.

Papadopoulos, Korus and Memon, "Hard-Attention for Scalable Image
Classification" (NeurIPS 2021), section 5.3 (CUB, NABirds): instead of the
plain mean of the N positional-encoded features, an SE-gated scorer weighs
them (``shared/spec/methods.md`` section 4.1, "Feature weighting module";
``feature_weighting_module_cls`` of the official CUB/NABirds code):

    g = sigmoid(W2 swish(W1 mean_N F)),     W1: dim -> dim/4, W2: dim/4 -> dim
    w = softmax_N(W3 (F * g)),              W3: dim -> 1
    out = sum_N w_n F_n

EfficientNet's dense initialiser (``VarianceScaling(1/3, 'fan_out',
'uniform')``), zero biases. dim 1280, hidden 320: 822,081 parameters. The
returned weights are detached (diagnostics only, as the official
``tf.stop_gradient``); the pooled feature carries the gradient.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .keras_init import variance_scaling_

__all__ = ['FeatureWeighting']


class FeatureWeighting(nn.Module):
    """SE-gated softmax pooling over the feature axis N.

    Args:
        dim (int): Feature width. Defaults to 1280 (EN-B0).
        hidden (int): Squeeze width (the official ``int(dim * 0.25)``).
            Defaults to 320.

    Example:
        >>> import torch
        >>> fw = FeatureWeighting(1280, 320)
        >>> pooled, w = fw(torch.rand(2, 6, 1280))
        >>> pooled.shape, w.shape
        (torch.Size([2, 1280]), torch.Size([2, 6]))
        >>> sum(p.numel() for p in fw.parameters())
        822081
    """

    def __init__(self, dim: int = 1280, hidden: int = 320) -> None:
        super().__init__()
        for name, value in (('dim', dim), ('hidden', hidden)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'{name} must be a positive integer, got '
                                 f'{value!r}')
        self.dim, self.hidden = dim, hidden
        self.se_fc1 = nn.Linear(dim, hidden)
        self.se_fc2 = nn.Linear(hidden, dim)
        self.output_linear = nn.Linear(dim, 1)
        for fc in (self.se_fc1, self.se_fc2, self.output_linear):
            variance_scaling_(fc.weight, 1.0 / 3.0, 'fan_out', 'uniform')
            nn.init.zeros_(fc.bias)

    def forward(self, feats: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Args: ``feats [B, N, dim]``. Returns ``(pooled [B, dim], weights
        [B, N])``; the weights sum to 1 over N and are detached."""
        if feats.dim() != 3 or feats.shape[-1] != self.dim:
            raise ValueError(f'feats must have shape [B, N, {self.dim}], got '
                             f'{tuple(feats.shape)}')
        gate = torch.sigmoid(self.se_fc2(F.silu(self.se_fc1(
            feats.mean(dim=1)))))                            # [B, dim]
        scores = self.output_linear(feats * gate.unsqueeze(1)).squeeze(-1)
        weights = torch.softmax(scores, dim=-1)              # [B, N]
        pooled = (weights.unsqueeze(-1) * feats).sum(dim=1)
        return pooled, weights.detach()
