"""Draw the regions that TNet attends on an image, one colour per level.

For a ``td_plugins.TNet`` config (and optionally a checkpoint; without one
the model keeps its initial weights): the whole image is resized to the
model's ``input_size`` (the official evaluation; the image's own size when
the config has none), TNet traverses it with its test settings (or
``--num-levels`` / ``--locations``), and the attended boxes
(``DataSample.tnet_boxes``, network-input pixels) are scaled back to the
image and drawn on it: level 1 (the paper's level 2) red, level 2 green,
level 3 blue, ...; on images of 128 px or more each box is labelled with its
level and location probability and the image with the predicted class.
Writes one PNG of the image's size; the drawing is
:func:`td_plugins.visualization.draw_regions`.

Usage: python tools/visualization/tnet_regions.py CONFIG IMG
       [--checkpoint CKPT] [--out regions.png] [--num-levels L]
       [--locations K [K ...]] [--device cpu]
"""
import argparse
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import cv2
import numpy as np

# importing td_plugins also makes checkpoints load weights-only
from td_plugins.visualization.tnet import (
    LEVEL_COLOURS,
    draw_regions,
    level_colour,
)

__all__ = ['LEVEL_COLOURS', 'build_model', 'draw_regions', 'level_colour',
           'tnet_regions']


def build_model(config: str, checkpoint: Optional[str] = None,
                device: str = 'cpu') -> Tuple[Any, Any]:
    """The TNet of ``config`` (with the config's data preprocessor), weights
    from ``checkpoint`` when given, in eval mode; and the config."""
    from mmengine.runner import load_checkpoint

    from td_plugins.models.classifiers.tnet import TNet
    from td_plugins.utils import build_from_config, load_config
    cfg = load_config(config)
    model = build_from_config(cfg, with_preprocessor=True)
    if not isinstance(model, TNet):
        raise ValueError(f'{config} builds a {type(model).__name__}, not a '
                         f'td_plugins.TNet')
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval(), cfg


def tnet_regions(config: str, image: str, checkpoint: Optional[str] = None,
                 device: str = 'cpu', num_levels: Optional[int] = None,
                 locations: Optional[Sequence[int]] = None
                 ) -> Tuple[np.ndarray, Any]:
    """The picture (BGR, the image's size) and TNet's DataSample."""
    import torch
    model, cfg = build_model(config, checkpoint, device)
    if num_levels is not None or locations is not None:
        model.set_traversal(num_levels=num_levels,
                            locations_per_level=locations)
    original = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if original is None:
        raise OSError(f'could not read {image}')
    h, w = original.shape[:2]
    in_h, in_w = model.input_size or (h, w)
    resized = cv2.resize(original, (in_w, in_h),
                         interpolation=cv2.INTER_LINEAR)
    inputs = torch.from_numpy(np.ascontiguousarray(
        resized.transpose(2, 0, 1)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[inputs]), False)
        sample = model.predict(data['inputs'])[0]
    boxes = sample.tnet_boxes.numpy() * np.array(
        [w / in_w, h / in_h, w / in_w, h / in_h])
    classes = (cfg.get('test_dataloader', {}).get('dataset', {})
               .get('classes'))
    label = int(sample.pred_label)
    name = classes[label] if classes and label < len(classes) else label
    title = f'{name} {float(sample.pred_score[label]):.2f}'
    picture = draw_regions(original, boxes, sample.tnet_levels.tolist(),
                           sample.tnet_probs.tolist(), title)
    return picture, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('image')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--out', default='tnet_regions.png')
    parser.add_argument('--num-levels', type=int, default=None)
    parser.add_argument('--locations', type=int, nargs='+', default=None,
                        help='locations per grid at each split')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    picture, sample = tnet_regions(args.config, args.image, args.checkpoint,
                                   args.device, args.num_levels,
                                   args.locations)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(args.out, picture):
        raise OSError(f'could not write {args.out}')
    print(f'wrote {args.out} ({picture.shape[1]}x{picture.shape[0]}, '
          f'{len(sample.tnet_levels)} regions)')


if __name__ == '__main__':
    main()
