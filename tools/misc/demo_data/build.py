"""Build the demo datasets: parameters per scale, ``.complete`` stamps and
atomic folders (the orchestration of ``tools/misc/make_demo_data.py``)."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from . import action as _action
from . import cls as _cls
from . import det as _det
from . import kpt as _kpt
from .common import GENERATOR_VERSION, MAX_IOU, Params

STAMP_FILE = '.complete'


def _scaled(count: int, scale: float) -> int:
    return max(1, int(round(count * scale)))


class DatasetSpec(NamedTuple):
    """A dataset: its folder, builder and scale -> parameters function."""
    folder: str
    build: Callable[[Path, int, Params], str]
    params: Callable[[float], Params]


DATASETS: dict[str, DatasetSpec] = {
    'det': DatasetSpec('coco_det', _det.build_coco_det, lambda s: dict(
        image_size=_det.DET_IMAGE_SIZE,
        num_train=_scaled(_det.DET_NUM_TRAIN, s),
        num_val=_scaled(_det.DET_NUM_VAL, s),
        max_objects=_det.DET_MAX_OBJECTS, size_range=_det.DET_SIZE_RANGE,
        max_iou=MAX_IOU)),
    'kpt': DatasetSpec('coco_kpt', _kpt.build_coco_kpt, lambda s: dict(
        image_size=_kpt.KPT_IMAGE_SIZE,
        num_train=_scaled(_kpt.KPT_NUM_TRAIN, s),
        num_val=_scaled(_kpt.KPT_NUM_VAL, s),
        max_persons=_kpt.KPT_MAX_PERSONS,
        height_range=_kpt.KPT_HEIGHT_RANGE, max_iou=MAX_IOU)),
    'action': DatasetSpec('action', _action.build_action, lambda s: dict(
        image_size=_action.ACTION_IMAGE_SIZE,
        num_frames=_action.ACTION_NUM_FRAMES, fps=_action.ACTION_FPS,
        size_range=_action.ACTION_SIZE_RANGE,
        train_per_class=_scaled(_action.ACTION_TRAIN_PER_CLASS, s),
        val_per_class=_scaled(_action.ACTION_VAL_PER_CLASS, s))),
    'cls': DatasetSpec('cls', _cls.build_cls, lambda s: dict(
        image_size=_cls.CLS_IMAGE_SIZE, size_range=_cls.CLS_SIZE_RANGE,
        train_per_class=_scaled(_cls.CLS_TRAIN_PER_CLASS, s),
        val_per_class=_scaled(_cls.CLS_VAL_PER_CLASS, s))),
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
