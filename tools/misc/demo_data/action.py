"""action/: clips of one shape moving in one of four directions.

``action/`` -- mmaction2 1.2 ``VideoDataset``::

  videos/train_0000.mp4 ...          videos/val_0000.mp4 ...
  train_list_videos.txt              val_list_videos.txt
  classes.txt

List lines are ``<file relative to videos/> <label>``. The class is the
direction of motion (``move_right``, ``move_left``, ``move_down``,
``move_up``) of one random shape of random colour; appearance carries no
class information. Videos are mp4 ('mp4v') written with OpenCV.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import (
    SHAPES,
    SPLITS,
    Params,
    draw_shape,
    item_rng,
    random_colour,
    random_shape_polygon,
    textured_background,
    write_lines,
    write_video,
)

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
