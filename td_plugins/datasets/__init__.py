"""Data transforms of td_plugins (registered in
td_plugins.registry.TRANSFORMS)."""
from .transforms import FIVE_CROP_POSITIONS, FivePointCrop

__all__ = ['FIVE_CROP_POSITIONS', 'FivePointCrop']
