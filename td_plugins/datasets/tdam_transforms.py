"""timm's ``RandomResizedCropAndInterpolation(interpolation='random')``.

The official TDAM ImageNet runs (Jaiswal, Fernando and Tan, ECCV 2022;
``td_train_and_evaluate.py``, ``--train-interpolation random`` by default)
crop with timm's ``RandomResizedCropAndInterpolation``, which resizes every
image with an interpolation drawn from ``(bilinear, bicubic)``
(``_RANDOM_INTERPOLATION``, ``random.choice`` per call). mmpretrain's
``RandomResizedCrop`` takes one interpolation; this subclass draws it per
image.

mmpretrain is imported when the transform is first built, so ``import
td_plugins`` does not need it (the registered name is a factory, as the
codebase-specific backbones are).
"""
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..registry import TRANSFORMS

__all__ = ['RandomInterpolationResizedCrop',
           'random_interpolation_resized_crop_class']

_METHODS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')
_CLASS: Optional[type] = None


def random_interpolation_resized_crop_class() -> type:
    """The ``RandomResizedCrop`` subclass (imports mmpretrain)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    from mmpretrain.datasets.transforms import RandomResizedCrop

    class RandomInterpolationResizedCrop(RandomResizedCrop):
        """mmpretrain's ``RandomResizedCrop`` with the interpolation drawn
        uniformly from ``interpolations`` for every image. Added key:
        ``interpolation`` (the method used)."""

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
            super().__init__(scale, interpolation=interpolations[0],
                             **kwargs)
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

    _CLASS = RandomInterpolationResizedCrop
    return _CLASS


@TRANSFORMS.register_module(name='RandomInterpolationResizedCrop')
def RandomInterpolationResizedCrop(  # noqa: N802 (a class factory)
        scale: Any, interpolations: Sequence[str] = ('bilinear', 'bicubic'),
        **kwargs: Any) -> Any:
    """timm's random-interpolation crop: mmpretrain's ``RandomResizedCrop``
    with the interpolation drawn uniformly from ``interpolations`` for every
    image (timm's ``interpolation='random'`` is the default pair).

    Args:
        scale (int | Sequence[int]): Output size, as ``RandomResizedCrop``.
        interpolations (Sequence[str]): Methods to draw from, among
            ``'nearest'``, ``'bilinear'``, ``'bicubic'``, ``'area'``,
            ``'lanczos'``. Defaults to ``('bilinear', 'bicubic')``.
        **kwargs: ``RandomResizedCrop``'s other arguments
            (``crop_ratio_range``, ``aspect_ratio_range``, ``backend``, ...);
            not ``interpolation``.

    Returns:
        The transform (an instance of
        :func:`random_interpolation_resized_crop_class`).

    Example:
        >>> t = RandomInterpolationResizedCrop(224, backend='pillow')
        >>> t.interpolations
        ('bilinear', 'bicubic')
    """
    return random_interpolation_resized_crop_class()(
        scale, interpolations=interpolations, **kwargs)
