"""timm's ``RandomResizedCropAndInterpolation(interpolation='random')``.

The official TDAM ImageNet runs (Jaiswal, Fernando and Tan, ECCV 2022;
``td_train_and_evaluate.py``, ``--train-interpolation random`` by default)
resize every crop with an interpolation drawn from ``(bilinear, bicubic)``;
mmpretrain's ``RandomResizedCrop`` takes one, this subclass draws it per
image. The package imports this module only when mmpretrain is installed
(:func:`td_plugins.utils.codebases.import_if_available`).
"""
from typing import Any, Dict, Sequence

import numpy as np
from mmpretrain.datasets.transforms import RandomResizedCrop

from ..registry import TRANSFORMS

__all__ = ['RandomInterpolationResizedCrop']

_METHODS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


@TRANSFORMS.register_module()
class RandomInterpolationResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` with the interpolation drawn
    uniformly from ``interpolations`` for every image.

    Added key: ``interpolation`` (the method used).

    Args:
        scale (int | Sequence[int]): Output size, as ``RandomResizedCrop``.
        interpolations (Sequence[str]): Methods to draw from, among
            ``'nearest'``, ``'bilinear'``, ``'bicubic'``, ``'area'``,
            ``'lanczos'``. Defaults to ``('bilinear', 'bicubic')``.
        **kwargs: ``RandomResizedCrop``'s other arguments
            (``crop_ratio_range``, ``aspect_ratio_range``, ``backend``, ...);
            not ``interpolation``.

    Example:
        >>> t = RandomInterpolationResizedCrop(224, backend='pillow')
        >>> t.interpolations
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
