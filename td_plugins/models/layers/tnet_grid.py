"""TNet's candidate grid: geometry, location selection and crops.

Papadopoulos, Korus and Memon, "Hard-Attention for Scalable Image
Classification" (NeurIPS 2021), section 3.1 (the processing flow), as
the official ``create_masked_batch``, ``create_boolean_mask`` and
``create_positional_vectors_components`` compute it (docs/tnet.md).

Geometry of an ``S``-pixel side split into an ``n x n`` grid::

    patch  = round(S * overlap)               (round half to even, as np.round)
    stride = ceil((S - patch) / (n - 1))
    pad    = (n - 1) * stride + patch - S     (ceil(pad / 2) before)

so cell ``i`` spans ``[i * stride - pad_before, i * stride - pad_before +
patch)``; ImageNet (224, 5, 0.34375): patch 77, stride 37, 1 pixel of zero
padding on top/left; fMoW (448, 3, 0.5): patch 224, stride 112, no padding.

The official code crops the next level from the current level's
full-resolution crops, each zero-padded on its own. Here every crop is cut
from the full-resolution *input* image with its box kept in input-image
pixels (``x1, y1, x2, y2``, end exclusive) together with its *valid*
region, the intersection of the image with all its ancestors' boxes; pixels
outside the valid region are zero, exactly the zeros the official nested
padding puts there. All crops of one level have the same size and are
resized to the base resolution as one batch (bilinear, ``align_corners=
False``, no antialiasing: ``tf.image.resize(..., BILINEAR, antialias=
False)``). Crops are ordered image-major, and within a parent by ascending
cell index (the official boolean-mask order), for top-k and for sampling.

Cell indices are row-major: cell ``c`` is row ``i = c // n`` (y) and column
``j = c % n`` (x), as the location module's output.
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

    Attributes:
        size (int): S, the side that is split.
        grid_size (int): n.
        patch (int): Side of every cell.
        stride (int): Offset between neighbouring cells.
        pad_before (int): Zero padding before (top or left).
        pad_after (int): Zero padding after (bottom or right).
    """
    size: int
    grid_size: int
    patch: int
    stride: int
    pad_before: int
    pad_after: int

    def cell_start(self, index: int) -> int:
        """First pixel of cell ``index`` in the unpadded side's frame
        (negative inside the top/left padding)."""
        return index * self.stride - self.pad_before


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_grid_args(grid_size: int, overlap: float) -> None:
    """Refuse a grid size below 2 or an overlap outside (0, 1).

    Args:
        grid_size (int): n, cells per side (>= 2).
        overlap (float): Fraction of a side that one cell spans, in (0, 1).

    Raises:
        ValueError: Naming the argument and its valid values.
    """
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

    Returns:
        GridGeometry: patch, stride and padding.

    Raises:
        ValueError: For invalid arguments, or a side too small to split
            (a cell below ``min_crop_size`` pixels, or a zero stride).

    Example:
        >>> grid_geometry(224, 5, 0.34375)
        GridGeometry(size=224, grid_size=5, patch=77, stride=37, \
pad_before=1, pad_after=0)
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
    """The (y, x) grid geometry of every split of a traversal.

    Level 0 is the whole ``height x width`` image; the grid of level ``l``
    splits the crops of level ``l`` (side ``patch`` of level ``l - 1``).

    Args:
        height (int): Input image height.
        width (int): Input image width.
        grid_size (int): n.
        overlap (float): Cell side as a fraction of its parent's side.
        num_levels (int): Processing levels (>= 1); ``num_levels - 1``
            splits.
        min_crop_size (int): Smallest crop side accepted at the deepest
            level. Defaults to 1.

    Returns:
        list[tuple[GridGeometry, GridGeometry]]: ``num_levels - 1`` pairs.

    Raises:
        ValueError: When a level's crops would be smaller than
            ``min_crop_size`` pixels (the input is too small for the levels
            asked).

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
    """Validate the number of levels and of locations per level.

    Args:
        num_levels (int): Processing levels (>= 1; 1 = the whole image only).
        locations_per_level (int | Sequence[int]): Locations attended per
            grid at each of the ``num_levels - 1`` splits; an int applies to
            every split.
        grid_size (int): n; at most ``n * n`` locations per grid.
        name (str): Argument name used in messages. Defaults to
            ``'locations_per_level'``.

    Returns:
        tuple[int]: ``num_levels - 1`` counts.

    Example:
        >>> check_levels(3, [2, 1], 3)
        (2, 1)
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
    """Refuse a ``probs`` that is not ``[K, cells]`` or a ``k`` not in
    ``[1, cells]``."""
    if probs.dim() != 2:
        raise ValueError(f'probs must be [K, cells], got '
                         f'{tuple(probs.shape)}')
    if not _is_int(k) or not 1 <= k <= probs.shape[1]:
        raise ValueError(f'k must be an integer in [1, {probs.shape[1]}], '
                         f'got {k!r}')


def sample_without_replacement(probs: torch.Tensor, k: int,
                               generator: Optional[torch.Generator] = None
                               ) -> torch.Tensor:
    """Draw ``k`` distinct cells per row, one after the other (paper section
    3.1: "a categorical distribution used for sampling without
    replacement").

    Draw i picks cell c with probability ``p_c / sum_{c' not drawn} p_c'``
    (the Plackett-Luce law). It is drawn with the exponential race: cell c
    gets the arrival time ``E_c / p_c`` (``E_c ~ Exp(1)``, independent) and
    the cells are taken in order of arrival; the first arrival is c with
    probability ``p_c / sum p`` and, the times being memoryless, the others
    race again with the remaining mass, so the order is the sequential law
    (Gumbel-top-k; Kool et al., ICML 2019).

    Args:
        probs (Tensor): ``[K, cells]`` non-negative weights (rows sum to 1
            for the location module; they need not).
        k (int): Draws per row, ``1 <= k <= cells``.
        generator (torch.Generator, optional): RNG on ``probs``' device.

    Returns:
        Tensor: ``[K, k]`` int64 cells in the order they were drawn.
    """
    _check_probs_and_k(probs, k)
    p = probs.detach().float()
    arrival = torch.empty_like(p).exponential_(generator=generator)
    # log(E / p) ascending = log(p) - log(E) descending (p = 0: never first).
    keys = torch.log(p) - torch.log(arrival)
    return keys.topk(k, dim=1, sorted=True).indices


def sequential_log_probs(probs: torch.Tensor, order: torch.Tensor,
                         eps: float = 1e-10) -> torch.Tensor:
    """Log-probability of each draw of a sequential sample without
    replacement, given the cells drawn before it.

    For draws ``c_1, ..., c_k`` from ``p`` (paper section 3.1 and eq. 1's
    ``log p(l | x, w)``)::

        log P(c_i | c_<i) = log p_{c_i} - log(1 - sum_{j<i} p_{c_j})

    with ``1 - sum_{j<i} p_{c_j}`` computed as the mass of the cells not yet
    drawn (the same number when the row sums to 1; never below ``p_{c_i}``,
    so no cancellation). Their sum over i is the log-probability of the
    *ordered* sequence, the quantity REINFORCE needs for sequential
    sampling; ``eps`` is added inside both logs as the official
    ``log(p + 1e-10)``. Differentiable in ``probs``.

    Args:
        probs (Tensor): ``[K, cells]`` probabilities.
        order (Tensor): ``[K, k]`` cells in draw order.
        eps (float): Added inside the logs. Defaults to 1e-10.

    Returns:
        Tensor: ``[K, k]`` conditional log-probabilities, in draw order.

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
    """Pick ``k`` cells per grid from the location probabilities.

    Args:
        probs (Tensor): ``[K, n*n]`` probabilities (rows sum to 1).
        k (int): Cells per row, ``1 <= k <= n*n``.
        mode (str): ``'topk'``, deterministic, the official code
            (docs/tnet.md) or ``'sample'``, sampling without replacement from
            the categorical distribution, the paper (section 3.1; see
            :func:`sample_without_replacement`). Defaults to ``'topk'``.
        generator (torch.Generator, optional): RNG for ``'sample'``.

    Returns:
        Tensor: ``[K, k]`` int64 cell indices, ascending in each row (the
        draw order is lost; :meth:`TNet.traverse` keeps it for the
        log-probabilities).

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
    """Boxes and valid regions of level 0: the whole images.

    Returns:
        tuple[Tensor, Tensor]: ``boxes`` and ``valid``, ``[B, 4]`` int64
        ``(x1, y1, x2, y2)``.
    """
    box = torch.tensor([0, 0, width, height], dtype=torch.long,
                       device=device)
    boxes = box.expand(batch_size, 4).clone()
    return boxes, boxes.clone()


def child_regions(boxes: torch.Tensor, valid: torch.Tensor,
                  cells: torch.Tensor, geom_y: GridGeometry,
                  geom_x: GridGeometry
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Boxes (input-image pixels) of the selected cells of each parent.

    Args:
        boxes (Tensor): ``[K, 4]`` parent boxes ``(x1, y1, x2, y2)``, all of
            side ``geom_y.size x geom_x.size``.
        valid (Tensor): ``[K, 4]`` parent valid regions.
        cells (Tensor): ``[K, k]`` selected cell indices (row-major).
        geom_y (GridGeometry): Geometry of the parents' height.
        geom_x (GridGeometry): Geometry of the parents' width.

    Returns:
        tuple[Tensor, Tensor]: ``[K*k, 4]`` child boxes and valid regions
        (parent-major). A child's valid region is its parent's valid region
        cut to the parent's box.
    """
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
    """Positional triplets ``(y, x, s)`` of the selected cells (section 3.2).

    A cell ``(i, j)`` of a parent at ``(y_p, x_p)`` gets ``y = y_p * n +
    i``, ``x = x_p * n + j`` and ``s = level`` (its level index, 0 being the
    whole image).

    Args:
        positions (Tensor): ``[K, 3]`` parent triplets.
        cells (Tensor): ``[K, k]`` selected cells.
        grid_size (int): n.
        level (int): Level index of the children.

    Returns:
        Tensor: ``[K*k, 3]`` (float, parent-major).
    """
    rows = (cells // grid_size).to(positions.dtype)
    cols = (cells % grid_size).to(positions.dtype)
    y = positions[:, 0:1] * grid_size + rows
    x = positions[:, 1:2] * grid_size + cols
    s = torch.full_like(y, float(level))
    return torch.stack([y, x, s], dim=-1).reshape(-1, 3)


def resize_to(images: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (h, w) as ``tf.image.resize(BILINEAR,
    antialias=False)``; returns ``images`` itself when already that size."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode='bilinear',
                         align_corners=False, antialias=False)


def crop_regions(images: torch.Tensor, boxes: torch.Tensor,
                 valid: torch.Tensor, crop_size: Tuple[int, int],
                 out_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """Cut equally sized boxes out of full-resolution images, as one batch.

    Crops are grouped per image (image-major): with ``B`` images and ``K =
    B * m`` boxes, boxes ``b*m .. b*m + m - 1`` belong to image ``b``. Pixels
    outside an image or outside a crop's valid region are 0.

    Args:
        images (Tensor): ``[B, C, H, W]`` full-resolution images.
        boxes (Tensor): ``[B*m, 4]`` ``(x1, y1, x2, y2)`` integer boxes in
            image pixels, each ``crop_size`` large.
        valid (Tensor): ``[B*m, 4]`` valid regions (same format).
        crop_size (tuple[int, int]): ``(h, w)`` of every box.
        out_size (tuple[int, int], optional): Resize the crops to this
            ``(h, w)`` (bilinear, no antialiasing). Defaults to None.

    Returns:
        Tensor: ``[B*m, C, h, w]``.

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
