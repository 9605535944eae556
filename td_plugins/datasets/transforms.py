"""Ten-crop testing (Krizhevsky et al. 2012; He et al. 2016), as the TDAF
paper's ImageNet table, which mmpretrain 1.2 lacks (docs/tdaf.md).
"""
from typing import Dict, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS

__all__ = ['FIVE_CROP_POSITIONS', 'FivePointCrop']

FIVE_CROP_POSITIONS = ('center', 'top_left', 'top_right', 'bottom_left',
                       'bottom_right')


def _pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


@TRANSFORMS.register_module()
class FivePointCrop(BaseTransform):
    """Crop ``crop_size`` at one of the five ten-crop positions.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``.

    Args:
        crop_size (int | tuple[int, int]): ``s`` or ``(h, w)``.
        position (str): One of :data:`FIVE_CROP_POSITIONS`.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]],
                 position: str = 'center') -> None:
        if position not in FIVE_CROP_POSITIONS:
            raise ValueError(f'position must be one of '
                             f'{FIVE_CROP_POSITIONS}, got {position!r}')
        self.crop_size = _pair(crop_size)
        self.position = position

    def offset(self, height: int, width: int) -> Tuple[int, int]:
        """Top-left ``(y, x)`` of the crop in a ``height x width`` image."""
        h, w = self.crop_size
        if h > height or w > width:
            raise ValueError(f'crop {h}x{w} does not fit in the image '
                             f'{height}x{width}')
        if self.position == 'center':
            return (height - h) // 2, (width - w) // 2
        y = 0 if self.position.startswith('top') else height - h
        x = 0 if self.position.endswith('left') else width - w
        return y, x

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        y, x = self.offset(*img.shape[:2])
        h, w = self.crop_size
        results['img'] = np.ascontiguousarray(img[y:y + h, x:x + w])
        results['img_shape'] = (h, w)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'position={self.position!r})')

