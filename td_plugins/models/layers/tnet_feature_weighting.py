"""TNet's feature weighting (Papadopoulos et al., NeurIPS 2021, sec. 5.3)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tnet_keras_init import variance_scaling_

__all__ = ['FeatureWeighting']


class FeatureWeighting(nn.Module):
    """SE-gated softmax pooling over the feature axis N.

    Args:
        dim, hidden (int): Feature and squeeze widths; 1280 and 320.

    Example:
        >>> fw = FeatureWeighting(1280, 320)
        >>> pooled, w = fw(torch.rand(2, 6, 1280))
        >>> pooled.shape, w.shape, sum(p.numel() for p in fw.parameters())
        (torch.Size([2, 1280]), torch.Size([2, 6]), 822081)
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
        """``feats [B, N, dim]`` -> ``(pooled [B, dim], weights [B, N])``."""
        if feats.dim() != 3 or feats.shape[-1] != self.dim:
            raise ValueError(f'feats must have shape [B, N, {self.dim}], got '
                             f'{tuple(feats.shape)}')
        gate = torch.sigmoid(self.se_fc2(F.silu(self.se_fc1(
            feats.mean(dim=1)))))                            # [B, dim]
        scores = self.output_linear(feats * gate.unsqueeze(1)).squeeze(-1)
        weights = torch.softmax(scores, dim=-1)              # [B, N]
        pooled = (weights.unsqueeze(-1) * feats).sum(dim=1)
        return pooled, weights.detach()
