"""TNet's CUB input (official CUB/input_cub.py): the distorted-box crop,
the random-interpolation resize, translation + rotation, and the config's
train / test pipelines (docs/tnet.md, "CUB input")."""
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose

from td_plugins.datasets.tnet_transforms import (
    DistortedBBoxCrop,
    RandomInterpolationResize,
    RandomTranslateRotate,
    sample_distorted_crop,
)
from td_plugins.registry import TRANSFORMS

CFG = Path(__file__).parents[2] / 'configs' / 'tnet' / \
    'tnet-efficientnet-b0_cub-448.py'


def test_distorted_crop_respects_the_official_ranges():
    rng = np.random.RandomState(0)
    H, W = 375, 500                                    # a typical CUB image
    areas, aspects, corners = [], [], []
    for _ in range(3000):
        x, y, w, h = sample_distorted_crop(H, W, (0.85, 1.0), (0.5, 2.0),
                                           0.1, 50, rng)
        assert 0 <= x and x + w <= W and 0 <= y and y + h <= H
        areas.append(w * h / (H * W))
        aspects.append(w / h)
        corners.append((x, y))
    areas, aspects = np.array(areas), np.array(aspects)
    assert areas.min() >= 0.85 and areas.max() <= 1.0
    # w = round(h * a): the aspect is in range up to half a pixel.
    assert aspects.min() >= 0.5 - 0.5 / 200 and aspects.max() <= 2.0
    # At 85-100 % of the area and W/H = 4/3, the crops stay near 4/3.
    assert 1.1 < aspects.min() and aspects.max() < 1.6
    # Corners: [0, W - w) and [0, H - h), so never flush right / bottom
    # unless the side is full (TF's Uniform(n) is [0, n)).
    assert max(c[0] for c in corners) > 0 and max(c[1] for c in corners) > 0


def test_distorted_crop_falls_back_to_the_whole_image():
    rng = np.random.RandomState(0)
    # No 85 % crop of aspect 8-9 fits a square: every attempt fails.
    assert sample_distorted_crop(100, 100, (0.85, 1.0), (8.0, 9.0), 0.1, 50,
                                 rng) == (0, 0, 100, 100)
    assert sample_distorted_crop(64, 80, (1.0, 1.0), (1.25, 1.25), 0.1, 50,
                                 rng) == (0, 0, 80, 64)


def test_distorted_crop_transform_cuts_the_drawn_box():
    np.random.seed(3)
    img = np.random.randint(0, 255, (120, 160, 3), dtype=np.uint8)
    out = TRANSFORMS.build(dict(type='td_plugins.DistortedBBoxCrop'))(
        dict(img=img.copy()))
    x, y, w, h = out['tnet_crop']
    assert out['img'].shape == (h, w, 3) and out['img_shape'] == (h, w)
    np.testing.assert_array_equal(out['img'], img[y:y + h, x:x + w])


def test_random_interpolation_resize_gives_the_output_size():
    np.random.seed(0)
    t = RandomInterpolationResize(scale=(448, 448))
    seen = set()
    for shape in [(300, 500, 3), (500, 333, 3), (448, 448, 3)] * 20:
        out = t(dict(img=np.zeros(shape, np.uint8)))
        assert out['img'].shape == (448, 448, 3)
        seen.add(out['tnet_interpolation'])
    assert seen == {'nearest', 'bilinear', 'bicubic', 'area', 'lanczos'}
    out = RandomInterpolationResize(scale=(64, 32), interpolations=[
        'bilinear'])(dict(img=np.zeros((10, 20, 3), np.uint8)))
    assert out['img'].shape == (32, 64, 3)             # (w, h) as mmcv


def test_translation_and_rotation_ranges_with_a_seeded_rng():
    np.random.seed(123)
    t = RandomTranslateRotate()
    img = np.zeros((448, 300, 3), np.uint8)
    dxs, dys, degs = [], [], []
    for _ in range(2000):
        out = t(dict(img=img))
        assert out['img'].shape == img.shape
        dx, dy = out['tnet_translate']
        dxs.append(dx)
        dys.append(dy)
        degs.append(out['tnet_rotate'])
    assert max(map(abs, dxs)) <= 0.1 * 300 and max(map(abs, dys)) <= 44.8
    assert max(map(abs, degs)) <= 20.0
    # Uniform over the whole range: the extremes are reached.
    assert min(dxs) < -29 and max(dxs) > 29
    assert min(dys) < -43.5 and max(dys) > 43.5
    assert min(degs) < -19.5 and max(degs) > 19.5
    np.random.seed(123)
    again = [t(dict(img=img))['tnet_rotate'] for _ in range(5)]
    assert again == degs[:5]


def _marker(h, w, y, x):
    img = np.zeros((h, w, 3), np.uint8)
    img[y, x] = 255
    return img


def _where(img):
    ys, xs = np.nonzero(img[..., 0])
    return list(zip(ys.tolist(), xs.tolist()))


def test_translation_moves_right_and_down_and_fills_with_zeros():
    t = RandomTranslateRotate(max_rotate_degree=0.0)
    np.random.seed(0)
    out = t(dict(img=_marker(100, 120, 50, 60)))
    dx, dy = out['tnet_translate']
    (y, x), = _where(out['img'])
    assert abs(x - (60 + dx)) <= 1 and abs(y - (50 + dy)) <= 1
    full = np.full((100, 120, 3), 200, np.uint8)
    moved = t(dict(img=full))
    dx, dy = moved['tnet_translate']
    zero = (moved['img'][..., 0] == 0).mean()
    # The uncovered band: about |dx| H + |dy| W - |dx dy| pixels.
    expected = (abs(dx) * 100 + abs(dy) * 120 - abs(dx * dy)) / 12000
    assert abs(zero - expected) < 0.03


def test_rotation_is_counter_clockwise_about_the_centre():
    t = RandomTranslateRotate(max_translate_ratio=0.0)
    np.random.seed(1)
    h = w = 101                                        # centre (50, 50)
    out = t(dict(img=_marker(h, w, 50, 90)))           # 40 px right of it
    deg = out['tnet_rotate']
    (y, x), = _where(out['img'])
    rad = math.radians(deg)
    # Counter-clockwise on screen (y down): up for a positive angle.
    assert abs(x - (50 + 40 * math.cos(rad))) <= 1
    assert abs(y - (50 - 40 * math.sin(rad))) <= 1
    corners = t(dict(img=np.full((h, w, 3), 200, np.uint8)))
    if abs(corners['tnet_rotate']) > 2:
        assert corners['img'][0, 0, 0] == 0            # rotated-out corner
    assert corners['img'][50, 50, 0] == 200


@pytest.mark.parametrize('cls,kwargs,match', [
    (DistortedBBoxCrop, dict(area_range=(0.0, 1.0)), r'area_range must be '
     r'\(min, max\) with \(0.0 <= min <= max <= 1.0\]'),
    (DistortedBBoxCrop, dict(area_range=(0.9, 0.8)), 'area_range must be'),
    (DistortedBBoxCrop, dict(aspect_ratio_range=(0, 2)),
     'aspect_ratio_range must be'),
    (DistortedBBoxCrop, dict(min_object_covered=1.5),
     r'min_object_covered must be a number in \[0, 1\]'),
    (DistortedBBoxCrop, dict(max_attempts=0), 'max_attempts must be an '
     'integer >= 1'),
    (RandomInterpolationResize, dict(scale=0), 'scale must be a positive'),
    (RandomInterpolationResize, dict(scale=8, interpolations=['gaussian']),
     "interpolations must be a non-empty sequence of \\('nearest'"),
    (RandomTranslateRotate, dict(max_translate_ratio=1.0),
     r'max_translate_ratio must be a number in \[0, 1\)'),
    (RandomTranslateRotate, dict(max_rotate_degree=-1),
     r'max_rotate_degree must be a number in \[0, 180\]'),
    (RandomTranslateRotate, dict(interpolation='bicubic'),
     r"interpolation must be one of \('nearest', 'bilinear'\)"),
])
def test_invalid_arguments_are_refused(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def _image_file(tmp_path, h=300, w=500):
    """Four coloured corner blocks on grey, so a crop shows."""
    img = np.full((h, w, 3), 128, np.uint8)
    img[:20, :20] = (255, 0, 0)
    img[:20, -20:] = (0, 255, 0)
    img[-20:, :20] = (0, 0, 255)
    img[-20:, -20:] = (255, 255, 0)
    path = str(tmp_path / 'bird.png')
    cv2.imwrite(path, img)
    return path, img


@pytest.fixture
def _compose():
    """Build a pipeline as the runner does (mmpretrain's default scope),
    leaving the default scope as it was."""
    from mmengine.registry import DefaultScope, init_default_scope
    before = DefaultScope._instance_dict.copy()
    init_default_scope('mmpretrain')
    yield Compose
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


def test_config_test_pipeline_resizes_the_whole_image(tmp_path, _compose):
    cfg = Config.fromfile(CFG)
    path, img = _image_file(tmp_path)
    pipeline = _compose(cfg.test_dataloader.dataset.pipeline)
    out = pipeline(dict(img_path=path))
    x = out['inputs'].numpy().transpose(1, 2, 0)       # 448 x 448 x 3, BGR
    assert x.shape == (448, 448, 3)
    ref = cv2.resize(img, (448, 448), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x, ref)
    # Every corner block is in the output (nothing cut away).
    for (yy, xx), colour in {(0, 0): (255, 0, 0), (0, 447): (0, 255, 0),
                             (447, 0): (0, 0, 255),
                             (447, 447): (255, 255, 0)}.items():
        assert tuple(x[yy, xx]) == colour
    assert out['data_samples'].ori_shape == (300, 500)


def test_config_train_pipeline_gives_448_inputs(tmp_path, _compose):
    cfg = Config.fromfile(CFG)
    path, _ = _image_file(tmp_path)
    pipeline = _compose(cfg.train_dataloader.dataset.pipeline)
    names = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert names == ['LoadImageFromFile', 'td_plugins.DistortedBBoxCrop',
                     'td_plugins.RandomInterpolationResize', 'RandomFlip',
                     'td_plugins.RandomTranslateRotate', 'PackInputs']
    np.random.seed(0)
    for _ in range(5):
        out = pipeline(dict(img_path=path))
        assert tuple(out['inputs'].shape) == (3, 448, 448)
    assert cfg.data_preprocessor.mean == [127.5] * 3      # [-1, 1]
    assert cfg.data_preprocessor.std == [127.5] * 3
