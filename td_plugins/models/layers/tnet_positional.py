"""TNet positional-encoding module: inject (y, x, scale) into a feature.

Papadopoulos, Korus and Memon, "Hard-Attention for Scalable Image
Classification" (NeurIPS 2021), section 3.2 ("positional encoding module")
and appendix 2.1. Two forms of the
official code:

- ``'concat'`` (ImageNet, ``positional_encoding_module_cls``):
  ``f' = Linear([f, PE(pos)])``, no activation; Keras ``glorot_normal``
  weights, zero bias. 512/512 gives 1024*512 + 512 = 524,800 parameters.
- ``'add'`` (fMoW, CUB, NABirds): ``f' = swish(f + Linear(PE(pos)))``;
  EfficientNet's dense initialiser (``VarianceScaling(1/3, 'fan_out',
  'uniform')``), zero bias. 1280/320 gives 320*1280 + 1280 = 410,880.

``PE`` is :func:`~td_plugins.models.layers.sincos_position_encoding` of
width ``pos_dim`` (inverse frequencies 1..100, as the call sites).
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
        pos_dim (int): Positional-encoding width (>= 12; 512 for ImageNet,
            1280 / 4 = 320 for fMoW/CUB).
        variant (str): ``'concat'`` (ImageNet) or ``'add'`` (fMoW/CUB).
            Defaults to ``'concat'``.

    Example:
        >>> import torch
        >>> pm = TNetPositionalModule(512, 512)
        >>> f, pos = torch.rand(2, 4, 512), torch.zeros(2, 4, 3)
        >>> pm(f, pos).shape
        torch.Size([2, 4, 512])
        >>> sum(p.numel() for p in pm.parameters())
        524800
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
        """Args: ``features [..., feat_dim]``, ``positions [..., 3]`` (y, x,
        s). Returns ``[..., feat_dim]``."""
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
