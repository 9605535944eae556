"""Data transforms of td_plugins (registered in
td_plugins.registry.TRANSFORMS)."""
from .tnet_transforms import (TF_RESIZE_METHODS, DistortedBBoxCrop,
                              RandomInterpolationResize,
                              RandomTranslateRotate)
from .tdam_transforms import RandomInterpolationResizedCrop
from .transforms import FIVE_CROP_POSITIONS, FivePointCrop

__all__ = ['FIVE_CROP_POSITIONS', 'FivePointCrop', 'DistortedBBoxCrop',
           'RandomInterpolationResize', 'RandomInterpolationResizedCrop',
           'RandomTranslateRotate',
           'TF_RESIZE_METHODS']
