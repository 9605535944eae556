"""TNet positional module: inject (y, x, scale) into a feature (NeurIPS
2021, section 3.2, appendix 2.1; docs/tnet.md, "Positional module").
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .tnet_keras_init import glorot_normal_, variance_scaling_
from .tnet_positional_encoding import sincos_position_encoding

__all__ = ['TNetPositionalModule', 'TNET_POSITIONAL_VARIANTS']

TNET_POSITIONAL_VARIANTS = ('concat', 'add')


class TNetPositionalModule(nn.Module):
    """Combine a feature vector with the encoding of its location triplet.

    Args:
        feat_dim (int): Feature width (512 for BagNet-77, 1280 for EN-B0).
        pos_dim (int): Encoding width (>= 12; 512 ImageNet, 320 fMoW/CUB).
        variant (str): ``'concat'`` (ImageNet) or ``'add'`` (fMoW/CUB).

    Example:
        >>> pm = TNetPositionalModule(512, 512)
        >>> pm(torch.rand(2, 4, 512), torch.zeros(2, 4, 3)).shape
        torch.Size([2, 4, 512])
    """

    def __init__(self, feat_dim: int, pos_dim: int,
                 variant: str = 'concat') -> None:
        super().__init__()
        if variant not in TNET_POSITIONAL_VARIANTS:
            raise ValueError(f'variant must be one of '
                             f'{TNET_POSITIONAL_VARIANTS}, got {variant!r}')
        if isinstance(feat_dim, bool) or not isinstance(feat_dim, int) \
                or feat_dim < 1:
            raise ValueError(f'feat_dim must be a positive integer, got '
                             f'{feat_dim!r}')
        if isinstance(pos_dim, bool) or not isinstance(pos_dim, int) \
                or pos_dim < 12:
            raise ValueError(f'pos_dim must be an integer >= 12 (at least 2 '
                             f'frequencies per axis of (y, x, s)), got '
                             f'{pos_dim!r}')
        self.feat_dim, self.pos_dim, self.variant = feat_dim, pos_dim, variant
        if variant == 'concat':
            self.fc = nn.Linear(feat_dim + pos_dim, feat_dim)
            glorot_normal_(self.fc.weight)
        else:
            self.fc = nn.Linear(pos_dim, feat_dim)
            variance_scaling_(self.fc.weight, 1.0 / 3.0, 'fan_out', 'uniform')
        nn.init.zeros_(self.fc.bias)

    def forward(self, features: torch.Tensor,
                positions: torch.Tensor) -> torch.Tensor:
        """``[..., feat_dim]`` from features and ``(y, x, s)`` positions."""
        if features.shape[-1] != self.feat_dim:
            raise ValueError(f'features must have shape [..., {self.feat_dim}]'
                             f', got {tuple(features.shape)}')
        if positions.shape[:-1] != features.shape[:-1]:
            raise ValueError(f'positions must have shape '
                             f'{tuple(features.shape[:-1]) + (3, )}, got '
                             f'{tuple(positions.shape)}')
        pe = sincos_position_encoding(positions, self.pos_dim).to(
            features.dtype)
        if self.variant == 'concat':
            return self.fc(torch.cat([features, pe], dim=-1))
        return F.silu(features + self.fc(pe))
