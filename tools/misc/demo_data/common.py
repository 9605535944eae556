"""What the four demo-data generators share: random streams, shapes,
drawing and file writing (numpy and OpenCV only)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

# Part of every .complete stamp: bump it whenever the drawn content changes.
GENERATOR_VERSION = '1.1'

JPEG_QUALITY = 95
PNG_COMPRESSION = 3

SHAPES = ('circle', 'square', 'triangle', 'cross')
# Random rotation (+- degrees) per shape; a square or cross stays itself.
SHAPE_ROTATION = {'circle': 0.0, 'square': 15.0, 'triangle': 180.0,
                  'cross': 15.0}

# Placements overlapping an earlier one by more than this IoU are rejected.
MAX_IOU = 0.3

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = float(1 << SHIFT)

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
    """Fixed-point coordinates for cv2 drawing with ``shift=SHIFT``."""
    return np.rint(np.asarray(value, dtype=np.float64) * _SCALE).astype(
        np.int32)


def fixed_point(p: np.ndarray) -> tuple[int, int]:
    x, y = _fixed(p)
    return int(x), int(y)


def draw_shape(img: np.ndarray, polygon: np.ndarray,
               colour: tuple[int, int, int]
               ) -> tuple[list[float], list[float]]:
    """Fill ``polygon`` (anti-aliased) on ``img`` in place; return its
    tight ``[x, y, w, h]`` box and the flat ``[x1, y1, x2, y2, ...]``
    polygon in COCO form."""
    cv2.fillPoly(img, [_fixed(polygon)], colour, lineType=cv2.LINE_AA,
                 shift=SHIFT)
    flat = [round(float(v), 2) for v in polygon.reshape(-1)]
    return polygon_bbox(polygon), flat


def draw_dot(img: np.ndarray, centre: np.ndarray, radius: float,
             colour: tuple[int, int, int]) -> None:
    """Draw a filled anti-aliased disc."""
    cv2.circle(img, fixed_point(centre), int(round(radius * _SCALE)),
               colour, thickness=-1, lineType=cv2.LINE_AA, shift=SHIFT)


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


# ---------------------------------------------------------------- COCO files
def coco_json(images: list[dict], anns: list[dict],
              categories: list[dict], description: str) -> dict:
    """A COCO annotation file's content."""
    return dict(
        info=dict(description=description, version=GENERATOR_VERSION),
        licenses=[], images=images, annotations=anns, categories=categories)


def build_coco_split(root: Path, split: str, seed: int, dataset: str,
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
