"""coco_det/: solid shapes on a textured background, mmdet's CocoDataset.

``coco_det/`` -- mmdet 3.3 ``CocoDataset``::

  annotations/instances_train.json   annotations/instances_val.json
  train/000001.jpg ...               val/000001.jpg ...

Categories ``circle`` (1), ``square`` (2), ``triangle`` (3), supercategory
``shape``. Every image holds 1-3 solid shapes on a low-contrast textured
background. Annotations carry ``bbox`` ([x, y, w, h], tight around the
drawn polygon), ``area`` (w * h), ``iscrowd`` 0 and the polygon as
``segmentation``. ``file_name`` is relative to the split folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import (
    SPLITS,
    Params,
    build_coco_split,
    coco_json,
    draw_shape,
    overlaps,
    place_randomly,
    polygon_bbox,
    random_colour,
    random_shape_polygon,
    textured_background,
    write_json,
)

DET_IMAGE_SIZE = 160
DET_NUM_TRAIN = 128
DET_NUM_VAL = 32
DET_MAX_OBJECTS = 3
DET_SIZE_RANGE = (24.0, 90.0)
DET_CLASSES = ('circle', 'square', 'triangle')


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


def build_coco_det(root: Path, seed: int, params: Params) -> str:
    """Write the ``coco_det`` dataset into ``root``; return a summary."""
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(DET_CLASSES)]
    counts = []
    for split in SPLITS:
        images, anns = build_coco_split(root, split, seed, 'det',
                                         params[f'num_{split}'], params,
                                         _det_image)
        write_json(root / 'annotations' / f'instances_{split}.json',
                   coco_json(images, anns, categories,
                              'td_plugins synthetic shapes (detection)'))
        counts.append(f'{split}={len(images)} images/{len(anns)} objects')
    return ', '.join(counts)
