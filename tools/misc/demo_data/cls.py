"""cls/: one shape per image, mmpretrain's ImageNet / CustomDataset layout.

``cls/`` -- mmpretrain 1.2 ``ImageNet`` / ``CustomDataset``::

  train/<class>/<class>_0000.png ... val/<class>/<class>_0000.png ...
  meta/train.txt  meta/val.txt  meta/classes.txt

Meta lines are ``<class>/<file>.png <label>`` relative to the split
folder. Classes ``circle``, ``square``, ``triangle``, ``cross``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import (
    SPLITS,
    Params,
    draw_shape,
    item_rng,
    place_randomly,
    random_colour,
    random_shape_polygon,
    textured_background,
    write_image,
    write_lines,
)

CLS_IMAGE_SIZE = 64
CLS_TRAIN_PER_CLASS = 40
CLS_VAL_PER_CLASS = 10
CLS_SIZE_RANGE = (16.0, 40.0)
CLS_CLASSES = ('circle', 'square', 'triangle', 'cross')


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
