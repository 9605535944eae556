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
from typing import Any, List, Sequence, Tuple

import cv2
import numpy as np

TILE = 160


def colour_overlay(mask: np.ndarray, image: np.ndarray,
                   alpha: float = 0.55) -> Tuple[np.ndarray, float, float]:
    """``mask`` resized to ``image`` (BGR uint8), stretched to its own range
    (min-max; a constant mask is all zero), coloured with the JET map and
    blended over the image with weight ``alpha``. Returns the tile and the
    mask's range ``(lo, hi)``. Shared with vis_attention.py."""
    mask = cv2.resize(mask.astype(np.float32), image.shape[1::-1],
                      interpolation=cv2.INTER_LINEAR)
    lo, hi = float(mask.min()), float(mask.max())
    norm = (mask - lo) / (hi - lo) if hi > lo else np.zeros_like(mask)
    colour = cv2.applyColorMap((norm * 255).astype(np.uint8),
                               cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1 - alpha, colour, alpha, 0), lo, hi


def recorded_masks(r2dns) -> List[Tuple[int, int, Any]]:
    """``(stage, flow, mask)`` for every mask that ``r2dns`` recorded in
    its last forward (``record_attention`` set), stage and flow 1-based.
    A stage's masks gate its last ``len(masks)`` flows. Shared with
    vis_attention.py."""
    out = []
    for stage, masks in enumerate(r2dns.attention_maps or []):
        first = r2dns.num_flows - len(masks) + 1
        for flow, mask in enumerate(masks, start=first):
            out.append((stage + 1, flow, mask))
    return out


def _heat(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    tile, lo, hi = colour_overlay(mask, image)
    cv2.putText(tile, f'{lo:.2f}-{hi:.2f}', (3, TILE - 5),
                cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    return tile


def attention_grid(config: str, checkpoint: str, images: Sequence[str],
                   device: str = 'cpu') -> np.ndarray:
    """The picture as a BGR array (rows: images; columns: image, masks)."""
    import td_plugins  # noqa: F401  (weights-only checkpoint loading)
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
