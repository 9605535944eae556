"""TNet's candidate grid: geometry, location selection and crops.

Papadopoulos et al., "Hard-Attention for Scalable Image Classification"
(NeurIPS 2021), section 3.1; geometry, crop order and the sampling law are
in docs/tnet.md ("The traversal", "Grid module").
"""
import math
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

__all__ = ['GridGeometry', 'grid_geometry', 'level_geometries',
           'check_grid_args', 'check_levels', 'check_selection',
           'select_locations', 'sample_without_replacement',
           'sequential_log_probs', 'root_regions', 'child_regions',
           'child_positions', 'crop_regions', 'resize_to',
           'SELECTION_MODES']

SELECTION_MODES = ('topk', 'sample')


class GridGeometry(NamedTuple):
    """Geometry of one side of an ``n x n`` grid over an ``S``-pixel side.

    Fields: ``size`` (S), ``grid_size`` (n), ``patch``, ``stride``,
    ``pad_before``, ``pad_after``.
    """
    size: int
    grid_size: int
    patch: int
    stride: int
    pad_before: int
    pad_after: int

    def cell_start(self, index: int) -> int:
        """First pixel of cell ``index`` (negative in the padding)."""
        return index * self.stride - self.pad_before


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_grid_args(grid_size: int, overlap: float) -> None:
    """Refuse a ``grid_size`` below 2 or an ``overlap`` outside (0, 1)."""
    if not _is_int(grid_size) or grid_size < 2:
        raise ValueError(f'grid_size must be an integer >= 2 (cells per side '
                         f'of the candidate grid), got {grid_size!r}')
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) \
            or not 0.0 < overlap < 1.0:
        raise ValueError(f'overlap must be a number in the open interval '
                         f'(0, 1) (fraction of a side that one cell spans), '
                         f'got {overlap!r}')


def grid_geometry(size: int, grid_size: int, overlap: float,
                  min_crop_size: int = 1) -> GridGeometry:
    """Cell size, stride and padding of an ``n x n`` grid over one side.

    Args:
        size (int): S, the side in pixels.
        grid_size (int): n (>= 2).
        overlap (float): Cell side as a fraction of S, in (0, 1).
        min_crop_size (int): Smallest cell side accepted. Defaults to 1.

    Example:
        >>> grid_geometry(448, 3, 0.5)[2:4]
        (224, 112)
    """
    check_grid_args(grid_size, overlap)
    if not _is_int(size) or size < 1:
        raise ValueError(f'size must be a positive integer, got {size!r}')
    if not _is_int(min_crop_size) or min_crop_size < 1:
        raise ValueError(f'min_crop_size must be an integer >= 1, got '
                         f'{min_crop_size!r}')
    # Python's round() rounds half to even, as np.round in the official code.
    patch = int(round(size * overlap))
    if patch < min_crop_size:
        raise ValueError(
            f'input too small: a {size}-pixel side split into a {grid_size}x'
            f'{grid_size} grid with overlap {overlap} gives {patch}-pixel '
            f'cells, below min_crop_size={min_crop_size}; use a larger input, '
            f'fewer levels (num_levels) or a larger overlap')
    stride = math.ceil((size - patch) / (grid_size - 1))
    if stride < 1:
        raise ValueError(
            f'input too small: a {size}-pixel side with {patch}-pixel cells '
            f'(overlap {overlap}) leaves no room for a {grid_size}x'
            f'{grid_size} grid (stride 0); use a larger input, fewer levels '
            f'or a smaller overlap')
    pad = (grid_size - 1) * stride + patch - size
    before = -(-pad // 2)
    return GridGeometry(size, grid_size, patch, stride, before, pad - before)


def level_geometries(height: int, width: int, grid_size: int,
                     overlap: float, num_levels: int,
                     min_crop_size: int = 1
                     ) -> List[Tuple[GridGeometry, GridGeometry]]:
    """(y, x) :class:`GridGeometry` of each of the ``num_levels - 1`` splits.

    Example:
        >>> [g[0].patch for g in level_geometries(896, 896, 3, 0.5, 3)]
        [448, 224]
    """
    if not _is_int(num_levels) or num_levels < 1:
        raise ValueError(f'num_levels must be an integer >= 1, got '
                         f'{num_levels!r}')
    geoms = []
    h, w = height, width
    for level in range(num_levels - 1):
        try:
            gy = grid_geometry(h, grid_size, overlap, min_crop_size)
            gx = grid_geometry(w, grid_size, overlap, min_crop_size)
        except ValueError as err:
            if 'input too small' not in str(err):
                raise
            raise ValueError(
                f'input too small for num_levels={num_levels}: a '
                f'{height}x{width} input gives {h}x{w} crops at level '
                f'{level}, which cannot be split again ({err})') from None
        geoms.append((gy, gx))
        h, w = gy.patch, gx.patch
    return geoms


def check_levels(num_levels: int,
                 locations_per_level: Union[int, Sequence[int]],
                 grid_size: int, name: str = 'locations_per_level'
                 ) -> Tuple[int, ...]:
    """Validate ``num_levels``; return ``num_levels - 1`` locations per split.

    Example:
        >>> check_levels(3, 2, 3)
        (2, 2)
    """
    if not _is_int(num_levels) or num_levels < 1:
        raise ValueError(f'num_levels must be an integer >= 1 (1 = the '
                         f'whole image only), got {num_levels!r}')
    if _is_int(locations_per_level):
        locs = (locations_per_level, ) * (num_levels - 1)
    elif isinstance(locations_per_level, (list, tuple)):
        locs = tuple(locations_per_level)
        if len(locs) != num_levels - 1:
            raise ValueError(
                f'{name} must have num_levels - 1 = {num_levels - 1} '
                f'entries (one per split), got {list(locs)!r}')
    else:
        raise ValueError(f'{name} must be an int or a list of ints, got '
                         f'{locations_per_level!r}')
    cells = grid_size * grid_size
    for k in locs:
        if not _is_int(k) or not 1 <= k <= cells:
            raise ValueError(
                f'{name} entries must be integers in [1, {cells}] (at most '
                f'the {grid_size}x{grid_size} cells of a grid; use fewer '
                f'num_levels for no location), got {list(locs)!r}')
    return locs


def check_selection(selection: str, name: str = 'selection') -> str:
    """Refuse a selection rule other than ``'topk'`` or ``'sample'``."""
    if selection not in SELECTION_MODES:
        raise ValueError(f'{name} must be one of {SELECTION_MODES} '
                         f"('topk': the official code, 'sample': sampling "
                         f'without replacement, the paper), got '
                         f'{selection!r}')
    return selection


def _check_probs_and_k(probs: torch.Tensor, k: int) -> None:
    """Refuse ``probs`` not ``[K, cells]`` or ``k`` not in ``[1, cells]``."""
    if probs.dim() != 2:
        raise ValueError(f'probs must be [K, cells], got '
                         f'{tuple(probs.shape)}')
    if not _is_int(k) or not 1 <= k <= probs.shape[1]:
        raise ValueError(f'k must be an integer in [1, {probs.shape[1]}], '
                         f'got {k!r}')


def sample_without_replacement(probs: torch.Tensor, k: int,
                               generator: Optional[torch.Generator] = None
                               ) -> torch.Tensor:
    """Draw ``k`` distinct cells per row of ``[K, cells]`` weights, in order.

    The paper's sampling without replacement (section 3.1), by the
    exponential race (docs/tnet.md). Returns ``[K, k]`` int64 in draw order.
    """
    _check_probs_and_k(probs, k)
    p = probs.detach().float()
    arrival = torch.empty_like(p).exponential_(generator=generator)
    # log(E / p) ascending = log(p) - log(E) descending (p = 0: never first).
    keys = torch.log(p) - torch.log(arrival)
    return keys.topk(k, dim=1, sorted=True).indices


def sequential_log_probs(probs: torch.Tensor, order: torch.Tensor,
                         eps: float = 1e-10) -> torch.Tensor:
    """``[K, k]`` log-probability of each draw given the earlier ones.

    ``log p_c - log(mass not yet drawn)``, eps inside both logs (paper eq. 1;
    docs/tnet.md).

    Example:
        >>> p = torch.tensor([[0.1, 0.5, 0.15, 0.25]])
        >>> lp = sequential_log_probs(p, torch.tensor([[1, 3]]), eps=0.0)
        >>> torch.allclose(lp.sum().exp(), torch.tensor(0.5 * 0.25 / 0.5))
        True
    """
    if order.dim() != 2 or order.shape[0] != probs.shape[0]:
        raise ValueError(f'order must be [{probs.shape[0]}, k] cell indices, '
                         f'got {tuple(order.shape)}')
    # taken[:, i, c] = 1 when cell c was drawn before draw i.
    drawn = F.one_hot(order, probs.shape[1]).to(probs.dtype)   # [K, k, cells]
    taken = drawn.cumsum(dim=1) - drawn
    remaining = (probs[:, None, :] * (1 - taken)).sum(dim=-1)  # [K, k]
    chosen = probs.gather(1, order)
    return torch.log(chosen + eps) - torch.log(remaining + eps)


def select_locations(probs: torch.Tensor, k: int, mode: str = 'topk',
                     generator: Optional[torch.Generator] = None
                     ) -> torch.Tensor:
    """Pick ``k`` of the ``n*n`` cells per row of ``probs``, ascending.

    Args:
        mode (str): ``'topk'`` (official code) or ``'sample'`` (paper).

    Example:
        >>> p = torch.tensor([[0.1, 0.5, 0.15, 0.25]])
        >>> select_locations(p, 2)
        tensor([[1, 3]])
    """
    check_selection(mode, 'mode')
    _check_probs_and_k(probs, k)
    probs = probs.detach()
    if mode == 'topk':
        idx = probs.topk(k, dim=1).indices
    else:
        idx = sample_without_replacement(probs, k, generator)
    return idx.sort(dim=1).values


def root_regions(batch_size: int, height: int, width: int,
                 device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Level 0's ``[B, 4]`` boxes and valid regions: whole images."""
    box = torch.tensor([0, 0, width, height], dtype=torch.long,
                       device=device)
    boxes = box.expand(batch_size, 4).clone()
    return boxes, boxes.clone()


def child_regions(boxes: torch.Tensor, valid: torch.Tensor,
                  cells: torch.Tensor, geom_y: GridGeometry,
                  geom_x: GridGeometry
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``[K*k, 4]`` boxes and valid regions of each parent's selected cells."""
    n = geom_y.grid_size
    k = cells.shape[1]
    rows, cols = cells // n, cells % n
    y1 = boxes[:, 1:2] + rows * geom_y.stride - geom_y.pad_before
    x1 = boxes[:, 0:1] + cols * geom_x.stride - geom_x.pad_before
    child = torch.stack([x1, y1, x1 + geom_x.patch, y1 + geom_y.patch],
                        dim=-1).reshape(-1, 4)
    inner = torch.cat([torch.maximum(valid[:, :2], boxes[:, :2]),
                       torch.minimum(valid[:, 2:], boxes[:, 2:])], dim=1)
    return child, inner.repeat_interleave(k, dim=0)


def child_positions(positions: torch.Tensor, cells: torch.Tensor,
                    grid_size: int, level: int) -> torch.Tensor:
    """``[K*k, 3]`` triplets ``(y, x, s)`` of the cells (section 3.2)."""
    rows = (cells // grid_size).to(positions.dtype)
    cols = (cells % grid_size).to(positions.dtype)
    y = positions[:, 0:1] * grid_size + rows
    x = positions[:, 1:2] * grid_size + cols
    s = torch.full_like(y, float(level))
    return torch.stack([y, x, s], dim=-1).reshape(-1, 3)


def resize_to(images: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to ``size`` as ``tf.image.resize`` (no antialias)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode='bilinear',
                         align_corners=False, antialias=False)


def crop_regions(images: torch.Tensor, boxes: torch.Tensor,
                 valid: torch.Tensor, crop_size: Tuple[int, int],
                 out_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """Cut the ``[B*m, 4]`` boxes (image-major) out of ``[B, C, H, W]`` images.

    Pixels outside the image or the valid region are 0; ``out_size`` resizes.

    Example:
        >>> img = torch.arange(16.).view(1, 1, 4, 4)
        >>> box = torch.tensor([[-1, 1, 1, 3]])
        >>> crop_regions(img, box, torch.tensor([[0, 0, 4, 4]]), (2, 2))
        tensor([[[[0., 4.],
                  [0., 8.]]]])
    """
    b, c, h, w = images.shape
    ch, cw = int(crop_size[0]), int(crop_size[1])
    if boxes.shape[0] % b:
        raise ValueError(f'{boxes.shape[0]} boxes cannot be grouped over '
                         f'{b} images')
    m = boxes.shape[0] // b
    dtype = images.dtype if images.is_floating_point() else torch.float32
    dev = images.device
    ys = boxes[:, 1:2].to(dtype) + torch.arange(ch, device=dev, dtype=dtype)
    xs = boxes[:, 0:1].to(dtype) + torch.arange(cw, device=dev, dtype=dtype)
    # Pixel p's centre is at (2p + 1) / size - 1 in grid_sample's
    # align_corners=False coordinates; 'nearest' then reads pixel p exactly,
    # and coordinates outside the image read zeros.
    gy = (2 * ys + 1) / h - 1                                   # [K, ch]
    gx = (2 * xs + 1) / w - 1                                   # [K, cw]
    grid = torch.stack([gx[:, None, :].expand(-1, ch, -1),
                        gy[:, :, None].expand(-1, -1, cw)], dim=-1)
    grid = grid.reshape(b, m * ch, cw, 2)
    crops = F.grid_sample(images.to(dtype), grid, mode='nearest',
                          padding_mode='zeros', align_corners=False)
    crops = crops.reshape(b, c, m, ch, cw).transpose(1, 2).reshape(
        b * m, c, ch, cw)
    row_ok = (ys >= valid[:, 1:2]) & (ys < valid[:, 3:4])        # [K, ch]
    col_ok = (xs >= valid[:, 0:1]) & (xs < valid[:, 2:3])        # [K, cw]
    mask = (row_ok[:, :, None] & col_ok[:, None, :]).unsqueeze(1)
    crops = crops * mask.to(dtype)
    if out_size is not None:
        crops = resize_to(crops, out_size)
    return crops
