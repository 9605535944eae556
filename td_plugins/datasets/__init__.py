"""Data transforms of td_plugins (registered in
td_plugins.registry.TRANSFORMS)."""
from ..registry import TRANSFORMS
from ..utils.codebases import import_if_available
from .tnet_transforms import (
    TF_RESIZE_METHODS,
    DistortedBBoxCrop,
    RandomInterpolationResize,
    RandomTranslateRotate,
)
from .transforms import FIVE_CROP_POSITIONS, FivePointCrop

__all__ = ['FIVE_CROP_POSITIONS', 'FivePointCrop', 'DistortedBBoxCrop',
           'RandomInterpolationResize',
           'RandomTranslateRotate',
           'TF_RESIZE_METHODS']

# A subclass of mmpretrain's RandomResizedCrop: only with mmpretrain.
if import_if_available('td_plugins.datasets.tdam_transforms', 'mmpretrain',
                       ['RandomInterpolationResizedCrop'], TRANSFORMS):
    from .tdam_transforms import RandomInterpolationResizedCrop
    __all__ += ['RandomInterpolationResizedCrop']
