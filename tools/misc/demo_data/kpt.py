"""coco_kpt/: stick figures with the 17 COCO keypoints, mmpose's CocoDataset.

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
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from .common import (
    BLACK,
    SHIFT,
    SPLITS,
    WHITE,
    Params,
    build_coco_split,
    coco_json,
    draw_dot,
    fixed_point,
    overlaps,
    place_randomly,
    random_colour,
    textured_background,
    write_json,
)

KPT_IMAGE_SIZE = 192
KPT_NUM_TRAIN = 96
KPT_NUM_VAL = 24
KPT_MAX_PERSONS = 2
KPT_HEIGHT_RANGE = (70.0, 150.0)
KPT_BBOX_PAD = 0.10  # total padding, i.e. 5 % of w / h on each side

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
        cv2.line(img, fixed_point(start), fixed_point(kpts[j]), colour,
                 thickness, lineType=cv2.LINE_AA, shift=SHIFT)
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
        images, anns = build_coco_split(root, split, seed, 'kpt',
                                         params[f'num_{split}'], params,
                                         _kpt_image)
        write_json(root / 'annotations' / f'person_keypoints_{split}.json',
                   coco_json(images, anns, categories,
                              'td_plugins synthetic stick figures'))
        counts.append(f'{split}={len(images)} images/{len(anns)} persons')
    return ', '.join(counts)
