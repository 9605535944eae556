"""Draw TDAF's per-flow attention maps (the ANAR masks) on a few images.

For a detector whose backbone is ``td_plugins.TDAFResNet``: each row is one
image; the first column is the image, then for every gated stage the mask
that ANAR made for flow 2, 3, ... (coarse to fine, Pang et al. 2021 Fig. 3b),
as a heat map over the image. Writes one PNG.

Usage: python tools/visualization/tdaf_attention.py CONFIG CHECKPOINT
       IMG [IMG ...] --out attention.png [--device cpu]
"""
import argparse
from pathlib import Path
from typing import List, Sequence

import cv2
import numpy as np

# recorded_masks and colour_overlay are re-exported: other tools call them
# from here (tools/analysis_tools/anar_contrast.py).
from td_plugins.visualization import colour_overlay, recorded_masks

__all__ = ['TILE', 'attention_grid', 'colour_overlay', 'recorded_masks']

TILE = 160


def _heat(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    tile, lo, hi = colour_overlay(mask, image)
    cv2.putText(tile, f'{lo:.2f}-{hi:.2f}', (3, TILE - 5),
                cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    return tile


def attention_grid(config: str, checkpoint: str, images: Sequence[str],
                   device: str = 'cpu') -> np.ndarray:
    """The picture as a BGR array (rows: images; columns: image, masks)."""
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(config, checkpoint, device=device)
    r2dns = model.backbone.r2dns
    r2dns.record_attention = True
    rows: List[np.ndarray] = []
    for path in images:
        inference_detector(model, path)
        image = cv2.resize(cv2.imread(path), (TILE, TILE))
        tiles = [image]
        for stage, flow, mask in recorded_masks(r2dns):
            tile = _heat(mask[0, 0].cpu().numpy(), image)
            cv2.putText(tile, f'stage {stage} flow {flow}', (3, 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--out', default='attention.png')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    grid = attention_grid(args.config, args.checkpoint, args.images,
                          args.device)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(args.out, grid):
        raise OSError(f'could not write {args.out}')
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})')


if __name__ == '__main__':
    main()
