"""timm's random-interpolation ``RandomResizedCrop``, as the official TDAM
runs (ECCV 2022; docs/tdam.md, "ImageNet recipe as released")."""
from typing import Any, Dict, Sequence

import numpy as np
from mmpretrain.datasets.transforms import RandomResizedCrop

from ..registry import TRANSFORMS

__all__ = ['RandomInterpolationResizedCrop']

_METHODS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


@TRANSFORMS.register_module()
class RandomInterpolationResizedCrop(RandomResizedCrop):
    """``RandomResizedCrop`` drawing the interpolation per image.

    Args:
        scale (int | Sequence[int]): Output size.
        interpolations (Sequence[str]): Defaults to ('bilinear', 'bicubic').
        **kwargs: ``RandomResizedCrop``'s others, not ``interpolation``.

    Example:
        >>> RandomInterpolationResizedCrop(224).interpolations
        ('bilinear', 'bicubic')
    """

    def __init__(self, scale: Any,
                 interpolations: Sequence[str] = ('bilinear', 'bicubic'),
                 **kwargs: Any) -> None:
        if 'interpolation' in kwargs:
            raise ValueError('interpolation is drawn per image: give '
                             'interpolations (a sequence of methods) '
                             'instead')
        if isinstance(interpolations, str) or not interpolations or any(
                m not in _METHODS for m in interpolations):
            raise ValueError(f'interpolations must be a non-empty '
                             f'sequence of {_METHODS}, got '
                             f'{interpolations!r}')
        super().__init__(scale, interpolation=interpolations[0], **kwargs)
        self.interpolations = tuple(interpolations)

    def transform(self, results: Dict) -> Dict:
        self.interpolation = self.interpolations[np.random.randint(
            len(self.interpolations))]
        results = super().transform(results)
        results['interpolation'] = self.interpolation
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', interpolations={self.interpolations})')
