"""Attention pictures of any td_plugins model, overlaid on an image.

``python tools/visualization/vis_attention.py IMAGE CONFIG [--checkpoint
CKPT] --out-dir DIR [--shape H W]`` builds the config's model (mmpretrain,
mmdet, mmpose or mmaction2), loads the checkpoint if given (weights-only;
without one the untrained model is drawn, which checks the plumbing), and
draws every attention method the built model contains (TDAM steps, TDAF
masks, AW effects, TNet regions) with :mod:`td_plugins.visualization`.
A config whose model has none is refused (exit status 1).

Files: ``<method>_<panel>.png`` (one panel each, the input's size, titled),
``<method>.png`` (the input and the method's panels in a row) and
``attention.png`` (those rows stacked). What each map shows:
docs/visualization.md.

Usage: python tools/visualization/vis_attention.py IMAGE CONFIG
       [--checkpoint CKPT] --out-dir DIR [--shape H W] [--frames N]
       [--device cpu] [--cfg-options k=v ...]
"""
import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch.nn as nn

from td_plugins.visualization import (
    attention_panels,
    detect_methods,
    panel_row,
    prepare_input,
    stack_rows,
)


def build_model(config: str, checkpoint: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                device: str = 'cpu') -> Tuple[nn.Module, Any, dict]:
    """The config's model in eval mode, its config and the checkpoint's
    ``meta`` (empty without a checkpoint). Weights load with
    ``weights_only=True`` (``import td_plugins`` installs that loader);
    without a checkpoint the freshly built model is used as is (no
    ``init_weights``, which could try to download pretrained weights)."""
    from mmengine.runner import load_checkpoint

    from td_plugins.utils import build_from_config, load_config
    cfg = load_config(config, cfg_options)
    model = build_from_config(cfg, with_preprocessor=True)
    meta: dict = {}
    if checkpoint:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    return model.to(device).eval(), cfg, meta


def _clip_len(cfg: Any, default: int = 8) -> int:
    """``clip_len`` of the test pipeline's SampleFrames, if any."""
    for key in ('test_dataloader', 'val_dataloader'):
        pipeline = cfg.get(key, {}).get('dataset', {}).get('pipeline', [])
        for step in pipeline:
            if 'clip_len' in step:
                return int(step['clip_len'])
    return default


def visualize(image_path: str, config: str, out_dir: str,
              checkpoint: Optional[str] = None,
              shape: Optional[Sequence[int]] = None, frames: int = 0,
              device: str = 'cpu', cfg_options: Optional[dict] = None
              ) -> Dict[str, List[Path]]:
    """Write the pictures; returns ``{method: [files]}`` plus ``'all'``
    (``attention.png``). Raises ValueError when the model contains none
    of the methods."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read image {image_path}')
    if shape:
        image = cv2.resize(image, (int(shape[1]), int(shape[0])),
                           interpolation=cv2.INTER_LINEAR)
    model, cfg, meta = build_model(config, checkpoint, cfg_options, device)
    methods = detect_methods(model)
    if not methods:
        raise ValueError(f'{config}: the model contains no td_plugins '
                         f'attention module (TDAM, TDAF, AW or TNet)')
    scope = cfg.get('default_scope', 'mmengine')
    x = prepare_input(model, image, scope, frames or _clip_len(cfg))
    classes = meta.get('dataset_meta', {}).get('classes') or cfg.get(
        'test_dataloader', {}).get('dataset', {}).get('classes')
    rows = attention_panels(model, image, x, methods, scope, classes)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: Dict[str, List[Path]] = {}
    for method, panels in rows.items():
        files = [_write(out / f'{method}_{i}.png', tile)
                 for i, (_, tile) in enumerate(panels, start=1)]
        files.append(_write(out / f'{method}.png', panel_row(image, panels)))
        written[method] = files
    if rows:
        written['all'] = [_write(out / 'attention.png', stack_rows(
            [panel_row(image, p) for p in rows.values()]))]
    return written


def _write(path: Path, picture: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), picture):
        raise OSError(f'could not write {path}')
    return path


def main() -> None:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None,
                        help='weights (loaded weights-only); none: the '
                        'untrained model')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize the image to H x W first (default: '
                        'its own size)')
    parser.add_argument('--frames', type=int, default=0,
                        help='frames of the clip for 3D video models '
                        '(default: the config\'s clip_len, else 8)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='k=v overrides of the config')
    args = parser.parse_args()
    try:
        written = visualize(args.image, args.config, args.out_dir,
                            args.checkpoint, args.shape, args.frames,
                            args.device, args.cfg_options)
    except ValueError as err:
        sys.exit(f'vis_attention: {err}')
    for method, files in written.items():
        print(f'{method}: ' + ', '.join(str(f) for f in files))


if __name__ == '__main__':
    main()
