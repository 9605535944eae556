"""Generate small synthetic demo datasets for the td_plugins configs.

Four datasets are drawn from scratch (no download), each in the on-disk
format that the corresponding OpenMMLab 2.x codebase reads natively:

``coco_det/`` -- mmdet 3.3 ``CocoDataset``::

    annotations/instances_train.json   annotations/instances_val.json
    train/000001.jpg ...               val/000001.jpg ...

  Categories ``circle`` (1), ``square`` (2), ``triangle`` (3), supercategory
  ``shape``. Every image holds 1-3 solid shapes on a low-contrast textured
  background. Annotations carry ``bbox`` ([x, y, w, h], tight around the
  drawn polygon), ``area`` (w * h), ``iscrowd`` 0 and the polygon as
  ``segmentation``. ``file_name`` is relative to the split folder.

``coco_kpt/`` -- mmpose 1.3 ``CocoDataset`` (top-down)::

    annotations/person_keypoints_train.json
    annotations/person_keypoints_val.json
    train/000001.jpg ...               val/000001.jpg ...

  One category ``person`` with the 17 COCO keypoint names and the COCO
  skeleton. Every image holds 1-2 stick figures; ``keypoints`` is the flat
  ``[x, y, v] * 17`` list (v = 2 inside the image, ``0, 0, 0`` outside),
  ``bbox`` is the tight figure box padded by 10 % and clipped to the image,
  ``area`` is the bbox area. Keypoints are drawn as dots: the person's left
  side white, the right side black, the nose white with a black ring.

``action/`` -- mmaction2 1.2 ``VideoDataset``::

    videos/train_0000.mp4 ...          videos/val_0000.mp4 ...
    train_list_videos.txt              val_list_videos.txt
    classes.txt

  List lines are ``<file relative to videos/> <label>``. The class is the
  direction of motion (``move_right``, ``move_left``, ``move_down``,
  ``move_up``) of one random shape of random colour; appearance carries no
  class information. Videos are mp4 ('mp4v') written with OpenCV.

``cls/`` -- mmpretrain 1.2 ``ImageNet`` / ``CustomDataset``::

    train/<class>/<class>_0000.png ... val/<class>/<class>_0000.png ...
    meta/train.txt  meta/val.txt  meta/classes.txt

  Meta lines are ``<class>/<file>.png <label>`` relative to the split
  folder. Classes ``circle``, ``square``, ``triangle``, ``cross``.

Determinism: every image / clip draws from its own
``numpy.random.default_rng([seed, dataset, split, index])`` (never the global
RNG), so the same seed yields byte-identical annotation files and images,
and a smaller ``scale`` yields a prefix of the same items.

Idempotence: each dataset folder ends up with a ``.complete`` stamp naming
the generator version, seed and parameters. A dataset whose stamp matches is
skipped; ``--force`` rebuilds it. Each dataset is built in a hidden temporary
sibling folder and renamed into place only once it is complete, so an
interrupted run never leaves a half dataset with a stamp. (Two concurrent
runs into the same ``--out`` are not supported.)

Usage::

    python tools/misc/make_demo_data.py [--out data/demo] [--seed 0] \\
        [--only det,kpt,action,cls] [--scale 1.0] [--force]

Only numpy and OpenCV are needed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np

# Part of every .complete stamp: bump it whenever the drawn content changes.
GENERATOR_VERSION = '1.1'
STAMP_FILE = '.complete'

# ----------------------------------------------------------------- defaults
DET_IMAGE_SIZE = 160
DET_NUM_TRAIN = 128
DET_NUM_VAL = 32
DET_MAX_OBJECTS = 3
DET_SIZE_RANGE = (24.0, 90.0)
DET_CLASSES = ('circle', 'square', 'triangle')

KPT_IMAGE_SIZE = 192
KPT_NUM_TRAIN = 96
KPT_NUM_VAL = 24
KPT_MAX_PERSONS = 2
KPT_HEIGHT_RANGE = (70.0, 150.0)
MAX_IOU = 0.3  # placements overlapping an earlier one more are rejected
KPT_BBOX_PAD = 0.10  # total padding, i.e. 5 % of w / h on each side

ACTION_IMAGE_SIZE = 64
ACTION_NUM_FRAMES = 32
ACTION_FPS = 16
ACTION_TRAIN_PER_CLASS = 12
ACTION_VAL_PER_CLASS = 4
ACTION_SIZE_RANGE = (10.0, 20.0)
ACTION_CLASSES = ('move_right', 'move_left', 'move_down', 'move_up')
ACTION_DIRECTIONS = {
    'move_right': (1.0, 0.0),
    'move_left': (-1.0, 0.0),
    'move_down': (0.0, 1.0),
    'move_up': (0.0, -1.0),
}

CLS_IMAGE_SIZE = 64
CLS_TRAIN_PER_CLASS = 40
CLS_VAL_PER_CLASS = 10
CLS_SIZE_RANGE = (16.0, 40.0)
CLS_CLASSES = ('circle', 'square', 'triangle', 'cross')

JPEG_QUALITY = 95
PNG_COMPRESSION = 3

SHAPES = ('circle', 'square', 'triangle', 'cross')
# Random rotation (+- degrees) per shape; a square or cross stays itself.
SHAPE_ROTATION = {'circle': 0.0, 'square': 15.0, 'triangle': 180.0,
                  'cross': 15.0}

COCO_KEYPOINTS = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle')
# The standard COCO person skeleton (1-based keypoint indices).
COCO_SKELETON = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13),
    (6, 7), (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3),
    (2, 4), (3, 5), (4, 6), (5, 7))
# Body limbs drawn as lines (0-based); the face is drawn as a head disc.
BODY_LIMBS = ((5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
              (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = float(1 << _SHIFT)

# Stream ids that keep the random streams of datasets and splits apart.
_DATASET_STREAM = {'det': 1, 'kpt': 2, 'action': 3, 'cls': 4}
_SPLIT_STREAM = {'train': 0, 'val': 1}
SPLITS = ('train', 'val')

Params = dict


# ---------------------------------------------------------------- randomness
def item_rng(seed: int, dataset: str, split: str,
             index: int) -> np.random.Generator:
    """Return the private random generator of one image or clip."""
    return np.random.default_rng(
        [seed, _DATASET_STREAM[dataset], _SPLIT_STREAM[split], index])


# ------------------------------------------------------------------- drawing
def textured_background(rng: np.random.Generator, height: int,
                        width: int) -> np.ndarray:
    """Return a low-contrast BGR texture: tint + smooth noise + gradient
    and, half of the time, faint stripes."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(70, 185) + rng.uniform(-18, 18, size=3)
    cells = int(rng.integers(3, 9))
    coarse = rng.normal(0.0, 1.0, size=(cells, cells, 3)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img = img * rng.uniform(6, 16) + base.astype(np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(theta) + yy * math.sin(theta)) / max(height, width)
    img += ((ramp - 0.5) * rng.uniform(0, 30))[..., None]
    if rng.random() < 0.5:
        phi = rng.uniform(0, 2 * math.pi)
        period = rng.uniform(6, 24)
        proj = xx * math.cos(phi) + yy * math.sin(phi)
        stripes = np.sin(2 * math.pi * proj / period + rng.uniform(0, 6.3))
        img += (stripes * rng.uniform(4, 10))[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def random_colour(rng: np.random.Generator,
                  avoid: np.ndarray | None = None,
                  min_dist: float = 100.0) -> tuple[int, int, int]:
    """Return a saturated BGR colour at least ``min_dist`` from ``avoid``."""
    for _ in range(32):
        hsv = np.array([[[rng.integers(0, 180), rng.integers(170, 256),
                          rng.integers(170, 256)]]], dtype=np.uint8)
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)
        if avoid is None or np.linalg.norm(bgr - avoid) >= min_dist:
            break
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def shape_polygon(kind: str, size: float, angle_deg: float) -> np.ndarray:
    """Return the (N, 2) polygon of a shape ``size`` px across (before
    rotation), centred on the origin and rotated by ``angle_deg``."""
    h = size / 2.0
    if kind == 'circle':
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], axis=1) * h
    elif kind == 'square':
        pts = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    elif kind == 'triangle':
        t = np.radians([-90.0, 30.0, 150.0])
        pts = np.stack([np.cos(t), np.sin(t)], axis=1) * size / math.sqrt(3)
    elif kind == 'cross':
        b = size / 6.0
        pts = np.array([[-b, -h], [b, -h], [b, -b], [h, -b], [h, b], [b, b],
                        [b, h], [-b, h], [-b, b], [-h, b], [-h, -b],
                        [-b, -b]])
    else:
        raise ValueError(f'unknown shape {kind!r}; valid: {SHAPES}')
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return pts.astype(np.float64) @ rot.T


def random_shape_polygon(rng: np.random.Generator, kind: str,
                         size_range: tuple[float, float]) -> np.ndarray:
    """Return the polygon of ``kind`` with random size and rotation,
    centred on the origin."""
    size = rng.uniform(*size_range)
    limit = SHAPE_ROTATION[kind]
    return shape_polygon(kind, size, rng.uniform(-limit, limit))


def place_randomly(rng: np.random.Generator, points: np.ndarray,
                   width: int, height: int,
                   overflow: float = -1.0) -> np.ndarray:
    """Translate ``points`` to a random position where their box lies
    inside the image, ``overflow`` px beyond the border allowed (a negative
    value keeps that margin inside)."""
    lo = -overflow - points.min(axis=0)
    hi = np.array([width, height]) + overflow - points.max(axis=0)
    if np.any(hi < lo):
        raise ValueError(f'a shape of extent {np.ptp(points, axis=0)} does '
                         f'not fit an image of {width}x{height}')
    return points + rng.uniform(lo, hi)


def polygon_bbox(points: np.ndarray) -> list[float]:
    """Return the tight ``[x, y, w, h]`` box of ``points``."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return [round(float(x0), 2), round(float(y0), 2),
            round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def _fixed(value: np.ndarray | float) -> np.ndarray:
    """Fixed-point coordinates for cv2 drawing with ``shift=_SHIFT``."""
    return np.rint(np.asarray(value, dtype=np.float64) * _SCALE).astype(
        np.int32)


def _fixed_point(p: np.ndarray) -> tuple[int, int]:
    x, y = _fixed(p)
    return int(x), int(y)


def draw_shape(img: np.ndarray, polygon: np.ndarray,
               colour: tuple[int, int, int]
               ) -> tuple[list[float], list[float]]:
    """Fill ``polygon`` (anti-aliased) on ``img`` in place; return its
    tight ``[x, y, w, h]`` box and the flat ``[x1, y1, x2, y2, ...]``
    polygon in COCO form."""
    cv2.fillPoly(img, [_fixed(polygon)], colour, lineType=cv2.LINE_AA,
                 shift=_SHIFT)
    flat = [round(float(v), 2) for v in polygon.reshape(-1)]
    return polygon_bbox(polygon), flat


def draw_dot(img: np.ndarray, centre: np.ndarray, radius: float,
             colour: tuple[int, int, int]) -> None:
    """Draw a filled anti-aliased disc."""
    cv2.circle(img, _fixed_point(centre), int(round(radius * _SCALE)),
               colour, thickness=-1, lineType=cv2.LINE_AA, shift=_SHIFT)


def bbox_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[x, y, w, h]`` boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def overlaps(box: Sequence[float], others: Sequence[Sequence[float]],
             max_iou: float) -> bool:
    """Whether ``box`` overlaps any of ``others`` by more than ``max_iou``.
    """
    return any(bbox_iou(box, other) > max_iou for other in others)


# ------------------------------------------------------------------ writing
def write_image(path: Path, img: np.ndarray) -> None:
    """Encode ``img`` by the suffix of ``path`` (fixed JPEG quality /
    lossless PNG) and write it."""
    if path.suffix == '.png':
        params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    else:
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    ok, buf = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise RuntimeError(f'OpenCV could not encode {path}')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


def write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, separators=(',', ':')) + '\n')


def write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{line}\n' for line in lines))


def count_video_frames(path: Path) -> int:
    """Decode ``path`` with OpenCV and return the number of frames read."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return -1
        count = 0
        while cap.read()[0]:
            count += 1
        return count
    finally:
        cap.release()


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int) -> None:
    """Write BGR ``frames`` as an 'mp4v' mp4 and check that it reads back
    with the same frame count."""
    height, width = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'),
                             float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(
            f'cv2.VideoWriter cannot open {path} with fourcc "mp4v": this '
            f'OpenCV build has no mp4 video writer (FFmpeg backend).')
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    got = count_video_frames(path)
    if got != len(frames):
        raise RuntimeError(
            f'{path} reads back with {got} frames instead of {len(frames)}; '
            f'the OpenCV video backend cannot round-trip mp4v videos.')


# ------------------------------------------------------------ coco_det data
def _det_objects(rng: np.random.Generator, size: int, avoid: np.ndarray,
                 params: Params) -> list[tuple[int, np.ndarray, tuple]]:
    """Sample up to ``max_objects`` non-overlapping (class, polygon,
    colour) triples; the first one always fits."""
    objects: list[tuple[int, np.ndarray, tuple]] = []
    boxes: list[list[float]] = []
    for _ in range(int(rng.integers(1, params['max_objects'] + 1))):
        label = int(rng.integers(len(DET_CLASSES)))
        colour = random_colour(rng, avoid)
        for _attempt in range(30):
            poly = random_shape_polygon(rng, DET_CLASSES[label],
                                        params['size_range'])
            poly = place_randomly(rng, poly, size, size)
            box = polygon_bbox(poly)
            if not overlaps(box, boxes, params['max_iou']):
                objects.append((label, poly, colour))
                boxes.append(box)
                break
    return objects


def _det_image(rng: np.random.Generator,
               params: Params) -> tuple[np.ndarray, list[dict]]:
    """Draw one detection image; return it and its partial annotations."""
    size = params['image_size']
    img = textured_background(rng, size, size)
    avoid = img.reshape(-1, 3).mean(axis=0)
    anns = []
    for label, poly, colour in _det_objects(rng, size, avoid, params):
        bbox, flat = draw_shape(img, poly, colour)
        anns.append(dict(category_id=label + 1, bbox=bbox,
                         area=round(bbox[2] * bbox[3], 2), iscrowd=0,
                         segmentation=[flat]))
    return img, anns


def _coco_json(images: list[dict], anns: list[dict],
               categories: list[dict], description: str) -> dict:
    return dict(
        info=dict(description=description, version=GENERATOR_VERSION),
        licenses=[], images=images, annotations=anns, categories=categories)


def _build_coco_split(root: Path, split: str, seed: int, dataset: str,
                      num: int, params: Params,
                      draw: Callable[[np.random.Generator, Params],
                                     tuple[np.ndarray, list[dict]]]
                      ) -> tuple[list[dict], list[dict]]:
    """Draw ``num`` images of one split into ``root/split``; return the
    COCO ``images`` and ``annotations`` lists."""
    images, anns = [], []
    size = params['image_size']
    for index in range(num):
        img, partial = draw(item_rng(seed, dataset, split, index), params)
        image_id = index + 1
        file_name = f'{image_id:06d}.jpg'
        write_image(root / split / file_name, img)
        images.append(dict(id=image_id, file_name=file_name, width=size,
                           height=size))
        for ann in partial:
            anns.append(dict(id=len(anns) + 1, image_id=image_id, **ann))
    return images, anns


def build_coco_det(root: Path, seed: int, params: Params) -> str:
    """Write the ``coco_det`` dataset into ``root``; return a summary."""
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(DET_CLASSES)]
    counts = []
    for split in SPLITS:
        images, anns = _build_coco_split(root, split, seed, 'det',
                                         params[f'num_{split}'], params,
                                         _det_image)
        write_json(root / 'annotations' / f'instances_{split}.json',
                   _coco_json(images, anns, categories,
                              'td_plugins synthetic shapes (detection)'))
        counts.append(f'{split}={len(images)} images/{len(anns)} objects')
    return ', '.join(counts)


# ------------------------------------------------------------ coco_kpt data
def _limb_direction(up: np.ndarray, right: np.ndarray, side: float,
                    angle_deg: float) -> np.ndarray:
    """Unit vector ``angle_deg`` away from 'down', turned outwards to the
    given body ``side`` (+1 image right, -1 image left)."""
    a = math.radians(angle_deg)
    return math.cos(a) * -up + math.sin(a) * side * right


def _body_frame(angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """'Up' and 'image right' unit vectors of a body leaning by
    ``angle_deg``."""
    a = math.radians(angle_deg)
    return (np.array([math.sin(a), -math.cos(a)]),
            np.array([math.cos(a), math.sin(a)]))


def _head_keypoints(neck: np.ndarray, height: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Nose, eyes and ears (COCO order) above ``neck``."""
    up, right = _body_frame(rng.uniform(-15, 15))
    nose = neck + 0.10 * height * up
    eye_l = nose + height * (0.025 * up + 0.025 * right)
    eye_r = nose + height * (0.025 * up - 0.025 * right)
    ear_l = nose + height * (0.01 * up + 0.065 * right)
    ear_r = nose + height * (0.01 * up - 0.065 * right)
    return np.stack([nose, eye_l, eye_r, ear_l, ear_r])


def _limb_chain(root: np.ndarray, up: np.ndarray, right: np.ndarray,
                side: float, lengths: tuple[float, float],
                angles: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions of a two-segment limb (arm or leg)."""
    mid = root + lengths[0] * _limb_direction(up, right, side, angles[0])
    end = mid + lengths[1] * _limb_direction(up, right, side, angles[1])
    return mid, end


def stick_figure_pose(rng: np.random.Generator,
                      height: float) -> np.ndarray:
    """Random plausible front-facing pose: (17, 2) COCO keypoints around a
    pelvis at the origin. The person's left side is on the image right."""
    up, right = _body_frame(rng.uniform(-15, 15))
    neck = 0.30 * height * up
    kpts = np.zeros((17, 2))
    kpts[0:5] = _head_keypoints(neck, height, rng)
    for side, offset in ((1.0, 0), (-1.0, 1)):  # left, then right
        shoulder = neck + side * 0.11 * height * right
        hip = side * 0.07 * height * right
        arm = rng.uniform(-10, 150)
        elbow, wrist = _limb_chain(shoulder, up, right, side,
                                   (0.17 * height, 0.15 * height),
                                   (arm, arm + rng.uniform(-30, 100)))
        leg = rng.uniform(-10, 35)
        knee, ankle = _limb_chain(hip, up, right, side,
                                  (0.25 * height, 0.25 * height),
                                  (leg, leg + rng.uniform(-35, 15)))
        for base, point in ((5, shoulder), (7, elbow), (9, wrist),
                            (11, hip), (13, knee), (15, ankle)):
            kpts[base + offset] = point
    return kpts


def _head_disc(kpts: np.ndarray, height: float) -> tuple[np.ndarray, float]:
    """Centre and radius of the head disc around the face keypoints."""
    return kpts[1:3].mean(axis=0) * 0.5 + kpts[0] * 0.5, 0.075 * height


def _figure_extent(kpts: np.ndarray, height: float) -> np.ndarray:
    """(2, 2) [[x0, y0], [x1, y1]] extent of keypoints and head disc."""
    centre, radius = _head_disc(kpts, height)
    pts = np.concatenate([kpts, centre[None] - radius, centre[None] + radius])
    return np.stack([pts.min(axis=0), pts.max(axis=0)])


def draw_stick_figure(img: np.ndarray, kpts: np.ndarray, height: float,
                      colour: tuple[int, int, int]) -> None:
    """Draw limbs, head disc and keypoint dots (left white, right black,
    nose white with a black ring)."""
    thickness = max(2, int(round(height / 35)))
    for i, j in BODY_LIMBS + ((-1, 0),):
        start = (kpts[5] + kpts[6]) / 2 if i < 0 else kpts[i]
        cv2.line(img, _fixed_point(start), _fixed_point(kpts[j]), colour,
                 thickness, lineType=cv2.LINE_AA, shift=_SHIFT)
    centre, radius = _head_disc(kpts, height)
    draw_dot(img, centre, radius, colour)
    dot = max(1.5, height / 60)
    draw_dot(img, kpts[0], dot + 1, BLACK)
    for k in range(17):
        draw_dot(img, kpts[k], dot, WHITE if k % 2 == 1 or k == 0 else BLACK)


def _kpt_annotation(kpts: np.ndarray, extent: np.ndarray,
                    size: int) -> dict:
    """COCO person annotation (without ids) of one placed figure."""
    flat: list[float] = []
    for x, y in kpts:
        inside = 0 <= x <= size - 1 and 0 <= y <= size - 1
        flat += ([round(float(x), 2), round(float(y), 2), 2] if inside
                 else [0, 0, 0])
    pad = (extent[1] - extent[0]) * KPT_BBOX_PAD / 2
    x0, y0 = np.clip(extent[0] - pad, 0, size)
    x1, y1 = np.clip(extent[1] + pad, 0, size)
    bbox = [round(float(x0), 2), round(float(y0), 2),
            round(float(x1 - x0), 2), round(float(y1 - y0), 2)]
    return dict(category_id=1, keypoints=flat,
                num_keypoints=sum(1 for v in flat[2::3] if v > 0),
                bbox=bbox, area=round(bbox[2] * bbox[3], 2), iscrowd=0)


def _place_figure(rng: np.random.Generator, height: float,
                  size: int) -> tuple[np.ndarray, np.ndarray]:
    """Random pose placed in the image (up to 10 % of the figure may stick
    out); return keypoints and extent."""
    kpts = stick_figure_pose(rng, height)
    extent = _figure_extent(kpts, height)
    overflow = 0.1 * float(np.ptp(extent, axis=0).min())
    placed = place_randomly(rng, extent, size, size, overflow)
    shift = placed[0] - extent[0]
    return kpts + shift, extent + shift


def _kpt_image(rng: np.random.Generator,
               params: Params) -> tuple[np.ndarray, list[dict]]:
    """Draw one image with 1-2 stick figures; return it and its partial
    annotations."""
    size = params['image_size']
    img = textured_background(rng, size, size)
    avoid = img.reshape(-1, 3).mean(axis=0)
    anns, boxes = [], []
    for _ in range(int(rng.integers(1, params['max_persons'] + 1))):
        height = rng.uniform(*params['height_range'])
        colour = random_colour(rng, avoid)
        for _attempt in range(30):
            kpts, extent = _place_figure(rng, height, size)
            box = [*extent[0], *(extent[1] - extent[0])]
            if not overlaps(box, boxes, params['max_iou']):
                break
        else:
            continue
        boxes.append(box)
        draw_stick_figure(img, kpts, height, colour)
        anns.append(_kpt_annotation(kpts, extent, size))
    return img, anns


def build_coco_kpt(root: Path, seed: int, params: Params) -> str:
    """Write the ``coco_kpt`` dataset into ``root``; return a summary."""
    categories = [dict(id=1, name='person', supercategory='person',
                       keypoints=list(COCO_KEYPOINTS),
                       skeleton=[list(pair) for pair in COCO_SKELETON])]
    counts = []
    for split in SPLITS:
        images, anns = _build_coco_split(root, split, seed, 'kpt',
                                         params[f'num_{split}'], params,
                                         _kpt_image)
        write_json(root / 'annotations' / f'person_keypoints_{split}.json',
                   _coco_json(images, anns, categories,
                              'td_plugins synthetic stick figures'))
        counts.append(f'{split}={len(images)} images/{len(anns)} persons')
    return ', '.join(counts)


# -------------------------------------------------------------- action data
def _motion_path(rng: np.random.Generator, extent: np.ndarray, size: int,
                 direction: tuple[float, float]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Random start and displacement keeping the shape (``extent`` around
    the origin) inside the frame; main motion along ``direction`` plus a
    small sideways drift."""
    lo = 1.0 - extent[0]
    hi = size - 1.0 - extent[1]
    main = 0 if direction[0] else 1
    sign = direction[main]
    dist = min(rng.uniform(0.4, 0.65) * size, hi[main] - lo[main])
    room = hi[1 - main] - lo[1 - main]
    drift = float(np.clip(rng.uniform(-0.15, 0.15) * dist, -room, room))
    delta = np.zeros(2)
    delta[main], delta[1 - main] = sign * dist, drift
    start_lo = lo - np.minimum(delta, 0)
    start_hi = hi - np.maximum(delta, 0)
    return rng.uniform(start_lo, start_hi), delta


def _action_clip(rng: np.random.Generator, label: int,
                 params: Params) -> list[np.ndarray]:
    """Frames of one random shape moving in the class direction."""
    size, frames = params['image_size'], params['num_frames']
    background = textured_background(rng, size, size)
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = random_colour(rng, background.reshape(-1, 3).mean(axis=0))
    poly = random_shape_polygon(rng, kind, params['size_range'])
    extent = np.stack([poly.min(axis=0), poly.max(axis=0)])
    start, delta = _motion_path(rng, extent, size,
                                ACTION_DIRECTIONS[ACTION_CLASSES[label]])
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        frame = background.copy()
        draw_shape(frame, poly + start + t * delta, colour)
        clip.append(frame)
    return clip


def build_action(root: Path, seed: int, params: Params) -> str:
    """Write the ``action`` dataset into ``root``; return a summary."""
    write_lines(root / 'classes.txt', ACTION_CLASSES)
    counts = []
    for split in SPLITS:
        num = params[f'{split}_per_class'] * len(ACTION_CLASSES)
        lines = []
        for index in range(num):  # classes interleaved, names class-free
            label = index % len(ACTION_CLASSES)
            clip = _action_clip(item_rng(seed, 'action', split, index),
                                label, params)
            name = f'{split}_{index:04d}.mp4'
            write_video(root / 'videos' / name, clip, params['fps'])
            lines.append(f'{name} {label}')
        write_lines(root / f'{split}_list_videos.txt', lines)
        counts.append(f'{split}={num} clips')
    return ', '.join(counts) + f' x {params["num_frames"]} frames'


# ----------------------------------------------------------------- cls data
def _cls_image(rng: np.random.Generator, label: int,
               params: Params) -> np.ndarray:
    """One image with a single shape of class ``label``."""
    size = params['image_size']
    img = textured_background(rng, size, size)
    colour = random_colour(rng, img.reshape(-1, 3).mean(axis=0))
    poly = random_shape_polygon(rng, CLS_CLASSES[label],
                                params['size_range'])
    draw_shape(img, place_randomly(rng, poly, size, size), colour)
    return img


def build_cls(root: Path, seed: int, params: Params) -> str:
    """Write the ``cls`` dataset into ``root``; return a summary."""
    write_lines(root / 'meta' / 'classes.txt', CLS_CLASSES)
    counts = []
    for split in SPLITS:
        per_class = params[f'{split}_per_class']
        lines = []
        for label, name in enumerate(CLS_CLASSES):
            for i in range(per_class):
                rng = item_rng(seed, 'cls', split, label * per_class + i)
                rel = f'{name}/{name}_{i:04d}.png'
                write_image(root / split / rel, _cls_image(rng, label,
                                                           params))
                lines.append(f'{rel} {label}')
        write_lines(root / 'meta' / f'{split}.txt', lines)
        counts.append(f'{split}={len(lines)} images')
    return ', '.join(counts)


# ------------------------------------------------------------ orchestration
def _scaled(count: int, scale: float) -> int:
    return max(1, int(round(count * scale)))


class DatasetSpec(NamedTuple):
    """A dataset: its folder, builder and scale -> parameters function."""
    folder: str
    build: Callable[[Path, int, Params], str]
    params: Callable[[float], Params]


DATASETS: dict[str, DatasetSpec] = {
    'det': DatasetSpec('coco_det', build_coco_det, lambda s: dict(
        image_size=DET_IMAGE_SIZE, num_train=_scaled(DET_NUM_TRAIN, s),
        num_val=_scaled(DET_NUM_VAL, s), max_objects=DET_MAX_OBJECTS,
        size_range=DET_SIZE_RANGE, max_iou=MAX_IOU)),
    'kpt': DatasetSpec('coco_kpt', build_coco_kpt, lambda s: dict(
        image_size=KPT_IMAGE_SIZE, num_train=_scaled(KPT_NUM_TRAIN, s),
        num_val=_scaled(KPT_NUM_VAL, s), max_persons=KPT_MAX_PERSONS,
        height_range=KPT_HEIGHT_RANGE, max_iou=MAX_IOU)),
    'action': DatasetSpec('action', build_action, lambda s: dict(
        image_size=ACTION_IMAGE_SIZE, num_frames=ACTION_NUM_FRAMES,
        fps=ACTION_FPS, size_range=ACTION_SIZE_RANGE,
        train_per_class=_scaled(ACTION_TRAIN_PER_CLASS, s),
        val_per_class=_scaled(ACTION_VAL_PER_CLASS, s))),
    'cls': DatasetSpec('cls', build_cls, lambda s: dict(
        image_size=CLS_IMAGE_SIZE, size_range=CLS_SIZE_RANGE,
        train_per_class=_scaled(CLS_TRAIN_PER_CLASS, s),
        val_per_class=_scaled(CLS_VAL_PER_CLASS, s))),
}


def _stamp_text(name: str, seed: int, params: Params) -> str:
    return json.dumps(dict(generator='td_plugins make_demo_data',
                           version=GENERATOR_VERSION, dataset=name,
                           seed=seed, params=params),
                      sort_keys=True, indent=2) + '\n'


def is_up_to_date(folder: Path, stamp: str) -> bool:
    """Whether ``folder`` holds a complete dataset stamped with ``stamp``."""
    path = folder / STAMP_FILE
    return path.is_file() and path.read_text() == stamp


def _remove_leftovers(folder: Path) -> None:
    """Delete temporary folders left by interrupted runs."""
    for pattern in (f'.{folder.name}.tmp-*', f'.{folder.name}.old-*'):
        for stale in folder.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def build_atomically(folder: Path, build: Callable[[Path], str],
                     stamp: str) -> str:
    """Run ``build`` in a temporary sibling of ``folder``, stamp it and
    rename it into place; return the summary of ``build``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    tmp = folder.parent / f'.{folder.name}.tmp-{os.getpid()}'
    tmp.mkdir()
    try:
        summary = build(tmp)
        (tmp / STAMP_FILE).write_text(stamp)
        if folder.exists():
            old = folder.parent / f'.{folder.name}.old-{os.getpid()}'
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _parse_only(only: Sequence[str] | str | None) -> list[str]:
    """Validate ``only`` (names or one comma-separated string)."""
    if only is None:
        return list(DATASETS)
    names = only.split(',') if isinstance(only, str) else list(only)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise ValueError(
            f'invalid value for `only`: {unknown or names!r}; valid values '
            f'are {", ".join(DATASETS)} (a subset, e.g. "det,cls")')
    return [n for n in DATASETS if n in names]


def make_demo_data(out: str = 'data/demo', seed: int = 0,
                   only: Sequence[str] | None = None, force: bool = False,
                   scale: float = 1.0) -> dict[str, str]:
    """Generate the demo datasets under ``out``.

    Args:
        out: Root folder; datasets go to ``out/<folder>``.
        seed: Non-negative random seed; equal seeds give identical files.
        only: Subset of ``det``, ``kpt``, ``action``, ``cls`` (a list or a
            comma-separated string); all when None.
        force: Rebuild even datasets whose ``.complete`` stamp matches.
        scale: Multiplies all image / clip counts (at least 1 each), for
            quick tests; image sizes and frame counts are unchanged.

    Returns:
        Dataset name (``det``, ...) -> path of its folder.
    """
    names = _parse_only(only)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'`seed` must be a non-negative int, got {seed!r}')
    if not scale > 0:
        raise ValueError(f'`scale` must be positive, got {scale!r}')
    paths = {}
    for name in names:
        spec = DATASETS[name]
        folder = Path(out) / spec.folder
        params = spec.params(scale)
        stamp = _stamp_text(spec.folder, int(seed), params)
        paths[name] = str(folder)
        if not force and is_up_to_date(folder, stamp):
            print(f'[{name}] {folder} is up to date (seed={seed}), skipped')
            continue
        start = time.perf_counter()
        summary = build_atomically(
            folder, lambda root, s=spec, p=params: s.build(root, seed, p),
            stamp)
        print(f'[{name}] {folder}: {summary} '
              f'({time.perf_counter() - start:.1f}s)')
    return paths


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic td_plugins demo datasets.')
    parser.add_argument('--out', default='data/demo',
                        help='output root (default: data/demo)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--only', default=None,
                        help='comma-separated subset of '
                        f'{",".join(DATASETS)} (default: all)')
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiply all image / clip counts')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even up-to-date datasets')
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        make_demo_data(args.out, args.seed, args.only, args.force,
                       args.scale)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'done in {time.perf_counter() - start:.1f}s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
