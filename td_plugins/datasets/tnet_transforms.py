"""TNet's CUB-200-2011 training augmentation, as the official code.

Papadopoulos et al., "Hard-Attention for Scalable Image Classification"
(NeurIPS 2021), section 5.3, as the official ``CUB/input_cub.py``
``distort_image`` (docs/tnet.md, "CUB input").
"""
import math
from typing import Dict, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from ..registry import TRANSFORMS

__all__ = ['DistortedBBoxCrop', 'RandomInterpolationResize',
           'RandomTranslateRotate', 'TF_RESIZE_METHODS',
           'sample_distorted_crop']

# The official 8 ``tf.image.resize`` methods and the cv2 (mmcv) method used
# for each: Gaussian and Mitchell-cubic have no cv2 counterpart (bilinear and
# bicubic stand in), Lanczos-3/5 are both cv2's Lanczos-4.
TF_RESIZE_METHODS = {
    'bilinear': 'bilinear',
    'lanczos3': 'lanczos',
    'lanczos5': 'lanczos',
    'bicubic': 'bicubic',
    'gaussian': 'bilinear',
    'nearest': 'nearest',
    'area': 'area',
    'mitchellcubic': 'bicubic',
}
_CV2_METHODS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def _range(name: str, value, low: float, high: float,
           closed_low: bool = False) -> Tuple[float, float]:
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool)
        for v in value)
    if ok:
        a, b = float(value[0]), float(value[1])
        ok = a <= b and (a >= low if closed_low else a > low) and b <= high
    if not ok:
        bound = '[' if closed_low else '('
        raise ValueError(f'{name} must be (min, max) with {bound}{low} <= '
                         f'min <= max <= {high}], got {value!r}')
    return a, b


def _round(x: float) -> int:
    """C's lrintf: round half to even (the TF kernel's rounding)."""
    return int(np.rint(np.float32(x)))


def sample_distorted_crop(height: int, width: int,
                          area_range: Tuple[float, float],
                          aspect_ratio_range: Tuple[float, float],
                          min_object_covered: float, max_attempts: int,
                          rng: np.random.RandomState = np.random
                          ) -> Tuple[int, int, int, int]:
    """``(x, y, w, h)`` of a crop drawn as TF's
    ``sample_distorted_bounding_box`` draws it on the whole image.

    Args:
        height, width (int): Image size.
        area_range (tuple): Crop area over the image area.
        aspect_ratio_range (tuple): Crop width over height.
        min_object_covered (float): Least fraction of the image covered.
        max_attempts (int): Draws before the whole image is used.
        rng (RandomState): Source of the draws. Defaults to ``np.random``.

    Returns:
        tuple[int, int, int, int]: The crop's corner and size.
    """
    min_area = area_range[0] * width * height
    max_area = area_range[1] * width * height
    for _ in range(max_attempts):
        aspect = rng.uniform(*aspect_ratio_range)
        h = _round(math.sqrt(min_area / aspect))
        max_h = _round(math.sqrt(max_area / aspect))
        if _round(max_h * aspect) > width:
            max_h = int((width + 0.5 - 1e-7) / aspect)
            if _round(max_h * aspect) > width:
                max_h -= 1
        max_h = min(max_h, height)
        h = min(h, max_h)
        if h < max_h:
            h += int(rng.randint(0, max_h - h + 1))
        w = _round(h * aspect)
        if w * h < min_area:
            h += 1
            w = _round(h * aspect)
        if w * h > max_area:
            h -= 1
            w = _round(h * aspect)
        if not (min_area <= w * h <= max_area and 0 < w <= width
                and 0 < h <= height):
            continue
        if w * h < 1 or w * h / float(width * height) < min_object_covered:
            continue
        y = int(rng.randint(0, height - h)) if h < height else 0
        x = int(rng.randint(0, width - w)) if w < width else 0
        return x, y, w, h
    return 0, 0, width, height


@TRANSFORMS.register_module()
class DistortedBBoxCrop(BaseTransform):
    """Crop a random box as the official CUB training input.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``. Added
    keys: ``tnet_crop``.

    Args:
        area_range (Sequence[float]): Crop area over the image area, in
            (0, 1]. Defaults to (0.85, 1.0).
        aspect_ratio_range (Sequence[float]): Crop width over height, > 0.
            Defaults to (0.5, 2.0).
        min_object_covered (float): Least fraction of the image the crop
            covers, in [0, 1]. Defaults to 0.1.
        max_attempts (int): Draws before the whole image is used, >= 1.
            Defaults to 50.
    """

    def __init__(self, area_range: Sequence[float] = (0.85, 1.0),
                 aspect_ratio_range: Sequence[float] = (0.5, 2.0),
                 min_object_covered: float = 0.1,
                 max_attempts: int = 50) -> None:
        self.area_range = _range('area_range', area_range, 0.0, 1.0)
        self.aspect_ratio_range = _range('aspect_ratio_range',
                                         aspect_ratio_range, 0.0, math.inf)
        if isinstance(min_object_covered, bool) or not isinstance(
                min_object_covered, (int, float)) or \
                not 0.0 <= min_object_covered <= 1.0:
            raise ValueError(f'min_object_covered must be a number in '
                             f'[0, 1], got {min_object_covered!r}')
        self.min_object_covered = float(min_object_covered)
        if isinstance(max_attempts, bool) or not isinstance(
                max_attempts, int) or max_attempts < 1:
            raise ValueError(f'max_attempts must be an integer >= 1, got '
                             f'{max_attempts!r}')
        self.max_attempts = max_attempts

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        x, y, w, h = sample_distorted_crop(
            img.shape[0], img.shape[1], self.area_range,
            self.aspect_ratio_range, self.min_object_covered,
            self.max_attempts)
        results['img'] = np.ascontiguousarray(img[y:y + h, x:x + w])
        results['img_shape'] = (h, w)
        results['tnet_crop'] = (x, y, w, h)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(area_range={self.area_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'min_object_covered={self.min_object_covered}, '
                f'max_attempts={self.max_attempts})')


@TRANSFORMS.register_module()
class RandomInterpolationResize(BaseTransform):
    """Resize to ``scale`` (aspect not kept) with a random interpolation.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``scale_factor``. Added keys: ``tnet_interpolation``.

    Args:
        scale (int | Sequence[int]): ``s`` or ``(w, h)`` (mmcv's order).
        interpolations (Sequence[str]): cv2 methods to draw from uniformly.
            Defaults to :data:`TF_RESIZE_METHODS`' 8 values.
    """

    def __init__(self, scale: Union[int, Sequence[int]],
                 interpolations: Sequence[str] = tuple(
                     TF_RESIZE_METHODS.values())) -> None:
        if isinstance(scale, int) and not isinstance(scale, bool):
            scale = (scale, scale)
        if not isinstance(scale, (list, tuple)) or len(scale) != 2 or not \
                all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                    for v in scale):
            raise ValueError(f'scale must be a positive int or (w, h) '
                             f'positive ints, got {scale!r}')
        self.scale = (int(scale[0]), int(scale[1]))
        if isinstance(interpolations, str) or not interpolations or any(
                m not in _CV2_METHODS for m in interpolations):
            raise ValueError(f'interpolations must be a non-empty sequence '
                             f'of {_CV2_METHODS}, got {interpolations!r}')
        self.interpolations = tuple(interpolations)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        method = self.interpolations[np.random.randint(
            len(self.interpolations))]
        h, w = img.shape[:2]
        results['img'] = mmcv.imresize(img, self.scale,
                                       interpolation=method)
        results['img_shape'] = results['img'].shape[:2]
        results['scale_factor'] = (self.scale[0] / w, self.scale[1] / h)
        results['tnet_interpolation'] = method
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'interpolations={self.interpolations})')


@TRANSFORMS.register_module()
class RandomTranslateRotate(BaseTransform):
    """Translate, then rotate about the centre, as the official CUB input.

    Required keys: ``img``. Modified keys: ``img``. Added keys:
    ``tnet_translate``, ``tnet_rotate``.

    Args:
        max_translate_ratio (float): r, in [0, 1). Defaults to 0.1.
        max_rotate_degree (float): d, in [0, 180]. Defaults to 20.
        interpolation (str): ``'nearest'`` (official) or ``'bilinear'``.
            Defaults to ``'nearest'``.
        fill (int | float): Fill value. Defaults to 0.
    """

    _INTERP = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR}

    def __init__(self, max_translate_ratio: float = 0.1,
                 max_rotate_degree: float = 20.0,
                 interpolation: str = 'nearest',
                 fill: Union[int, float] = 0) -> None:
        if isinstance(max_translate_ratio, bool) or not isinstance(
                max_translate_ratio, (int, float)) or \
                not 0.0 <= max_translate_ratio < 1.0:
            raise ValueError(f'max_translate_ratio must be a number in '
                             f'[0, 1), got {max_translate_ratio!r}')
        if isinstance(max_rotate_degree, bool) or not isinstance(
                max_rotate_degree, (int, float)) or \
                not 0.0 <= max_rotate_degree <= 180.0:
            raise ValueError(f'max_rotate_degree must be a number in '
                             f'[0, 180], got {max_rotate_degree!r}')
        if interpolation not in self._INTERP:
            raise ValueError(f'interpolation must be one of '
                             f'{tuple(self._INTERP)}, got {interpolation!r}')
        if isinstance(fill, bool) or not isinstance(fill, (int, float)):
            raise ValueError(f'fill must be a number, got {fill!r}')
        self.max_translate_ratio = float(max_translate_ratio)
        self.max_rotate_degree = float(max_rotate_degree)
        self.interpolation = interpolation
        self.fill = fill

    def _warp(self, img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        channels = 1 if img.ndim == 2 else img.shape[2]
        out = cv2.warpAffine(img, matrix, (w, h),
                             flags=self._INTERP[self.interpolation],
                             borderMode=cv2.BORDER_CONSTANT,
                             borderValue=(self.fill, ) * min(channels, 4))
        return out.reshape(img.shape)

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        h, w = img.shape[:2]
        r = self.max_translate_ratio
        dx = float(np.random.uniform(-r * w, r * w))
        dy = float(np.random.uniform(-r * h, r * h))
        deg = float(np.random.uniform(-self.max_rotate_degree,
                                      self.max_rotate_degree))
        img = self._warp(img, np.float32([[1, 0, dx], [0, 1, dy]]))
        rot = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), deg,
                                      1.0)
        results['img'] = self._warp(img, rot)
        results['tnet_translate'] = (dx, dy)
        results['tnet_rotate'] = deg
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_translate_ratio='
                f'{self.max_translate_ratio}, max_rotate_degree='
                f'{self.max_rotate_degree}, interpolation='
                f'{self.interpolation!r}, fill={self.fill})')
