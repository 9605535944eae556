"""Generate small synthetic demo datasets for the td_plugins configs.

Four datasets are drawn from scratch (no download), each in the on-disk
format that the corresponding OpenMMLab 2.x codebase reads natively; one
module each under ``tools/misc/demo_data/`` (``det.py``: ``coco_det/``,
``kpt.py``: ``coco_kpt/``, ``action.py``: ``action/``, ``cls.py``:
``cls/``), whose docstrings give each layout. ``demo_data/build.py``
holds the stamps and atomic folders; this file is the command line.

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
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Sequence

_PACKAGE = 'td_plugins_demo_data'


def _generators() -> ModuleType:
    """``tools/misc/demo_data`` as a package (tools/ is none; this file is
    also loaded by its path)."""
    if _PACKAGE in sys.modules:
        return sys.modules[_PACKAGE]
    folder = Path(__file__).resolve().parent / 'demo_data'
    spec = importlib.util.spec_from_file_location(
        _PACKAGE, folder / '__init__.py',
        submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_PACKAGE]
        raise
    return module


_gen = _generators()
_build = _gen.build
STAMP_FILE, DATASETS = _build.STAMP_FILE, _build.DATASETS
build_atomically, is_up_to_date = _build.build_atomically, _build.is_up_to_date
GENERATOR_VERSION = _gen.common.GENERATOR_VERSION
# The sizes that callers (and the tests) read from this file.
DET_IMAGE_SIZE = _gen.det.DET_IMAGE_SIZE
DET_MAX_OBJECTS = _gen.det.DET_MAX_OBJECTS
KPT_IMAGE_SIZE = _gen.kpt.KPT_IMAGE_SIZE
ACTION_IMAGE_SIZE = _gen.action.ACTION_IMAGE_SIZE
ACTION_NUM_FRAMES = _gen.action.ACTION_NUM_FRAMES
CLS_IMAGE_SIZE = _gen.cls.CLS_IMAGE_SIZE


def make_demo_data(out: str = 'data/demo', seed: int = 0,
                   only: Sequence[str] | None = None, force: bool = False,
                   scale: float = 1.0) -> dict[str, str]:
    """Generate the demo datasets under ``out``; the arguments are those of
    ``make_demo_data`` in tools/misc/demo_data/build.py."""
    return _build.make_demo_data(out, seed, only, force, scale)


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
