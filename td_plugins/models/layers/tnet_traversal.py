"""TNet's top-down traversal of scale space (NeurIPS 2021, sections 3.1
and 3.2, Fig. 2; docs/tnet.md, "The traversal").
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .tnet_grid import (
    child_positions,
    child_regions,
    crop_regions,
    level_geometries,
    resize_to,
    root_regions,
    sample_without_replacement,
    select_locations,
    sequential_log_probs,
)

__all__ = ['LOG_EPS', 'grid_and_feature', 'probe_shapes', 'select_cells',
           'traverse_levels']

# Added to a selected cell's probability before its log (official code).
LOG_EPS = 1e-10

Extract = Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


def grid_and_feature(backbone: nn.Module, images: torch.Tensor,
                     grid_index: Union[int, str], feature_index: int,
                     grid_slice: Sequence[Optional[int]]
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Feature extraction: grid ``[K, C, n, n]`` and feature ``[K, D]``.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        >>> grid, feat = grid_and_feature(net, torch.rand(2, 3, 6, 6), '0',
        ...                               0, (0, None, 2))
        >>> tuple(grid.shape), tuple(feat.shape)
        ((2, 4, 3, 3), (2, 4))
    """
    captured: Dict[str, Any] = {}
    handle = None
    if isinstance(grid_index, str):
        handle = backbone.get_submodule(grid_index).register_forward_hook(
            lambda module, args, output: captured.__setitem__('grid',
                                                              output))
    try:
        outs = backbone(images)
    finally:
        if handle is not None:
            handle.remove()
    if isinstance(outs, torch.Tensor):
        outs = (outs, )
    if isinstance(grid_index, str):
        if 'grid' not in captured:
            raise RuntimeError(f'backbone sub-module {grid_index!r} did '
                               f'not run')
        grid = captured['grid']
    else:
        grid = outs[grid_index]
    feat = outs[feature_index]
    cut = slice(*grid_slice)
    grid = grid[..., cut, cut]
    if feat.dim() == 4:
        feat = feat.mean(dim=(2, 3))
    return grid, feat


def _shapes(extract: Extract, x: torch.Tensor, fake: bool
            ) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    if not fake:
        grid, feat = extract(x)
        return tuple(grid.shape), tuple(feat.shape)
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode(allow_non_fake_inputs=True):
        grid, feat = extract(x)
        return tuple(grid.shape), tuple(feat.shape)


def probe_shapes(extract: Extract, backbone: nn.Module,
                 base_resolution: Tuple[int, int]
                 ) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Shapes of ``extract``'s grid map and feature on one base-size image.

    Example:
        >>> net = nn.Conv2d(3, 4, 3)
        >>> probe_shapes(lambda x: (net(x), net(x).mean((2, 3))), net,
        ...              (5, 5))
        ((1, 4, 3, 3), (1, 4))
    """
    modes = {m: m.training for m in backbone.modules()}
    backbone.eval()
    x = torch.zeros(1, 3, *base_resolution)
    try:
        with torch.no_grad():
            try:
                return _shapes(extract, x, fake=True)
            except (ValueError, IndexError):
                raise
            except Exception:  # no fake tensors for this backbone
                pass
            try:
                return _shapes(extract, x, fake=False)
            except (ValueError, IndexError):
                raise
            except Exception as err:
                raise ValueError(f'the backbone cannot run at '
                                 f'base_resolution={base_resolution}: '
                                 f'{err}') from err
    finally:
        for m, mode in modes.items():
            m.training = mode


def select_cells(p: torch.Tensor, k: int, selection: str
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Selected cells ``[K, k]`` (ascending) and the log-probability of each.

    Example:
        >>> select_cells(torch.tensor([[.1, .6, .3]]), 2, 'topk')[0].tolist()
        [[1, 2]]
    """
    if selection == 'topk':
        cells = select_locations(p, k, 'topk')
        return cells, torch.log(p.gather(1, cells) + LOG_EPS)
    order = sample_without_replacement(p, k)
    log_p = sequential_log_probs(p, order, LOG_EPS)
    cells, perm = order.sort(dim=1)
    return cells, log_p.gather(1, perm)


def traverse_levels(inputs: torch.Tensor, extract: Extract,
                    location_module: Optional[Callable],
                    positional_module: Callable, grid_size: int,
                    overlap: float, base_resolution: Tuple[int, int],
                    num_levels: int, locations_per_level: Sequence[int],
                    selection: str, min_crop_size: int = 1
                    ) -> Dict[str, Any]:
    """Walk ``num_levels`` levels down from the whole image (section 3.1).

    Args:
        inputs (Tensor): ``[B, 3, H, W]`` full-resolution images.
        extract (Callable): Images to ``(grid, feature)``.
        location_module (Callable, optional): ``(grid, feature)`` to
            ``[K, n*n]`` probabilities; unused with one level.
        positional_module (Callable): ``(feature, position)`` to a feature.

    Returns:
        dict: ``features [B, N, D]`` and the rest as ``TNet.traverse``.

    Example:
        >>> net = nn.Conv2d(3, 4, 3, padding=1)
        >>> out = traverse_levels(
        ...     torch.rand(1, 3, 8, 8),
        ...     lambda x: grid_and_feature(net, x, 0, 0, (0, None, 2)),
        ...     lambda g, f: g.mean(1).flatten(1).softmax(1),
        ...     lambda f, pos: f, grid_size=2, overlap=0.5,
        ...     base_resolution=(4, 4), num_levels=2,
        ...     locations_per_level=[2], selection='topk')
        >>> out['features'].shape, out['boxes'].shape
        (torch.Size([1, 3, 4]), torch.Size([1, 2, 4]))
    """
    b, _, h, w = inputs.shape
    geoms = level_geometries(h, w, grid_size, overlap, num_levels,
                             min_crop_size)
    boxes, valid = root_regions(b, h, w, inputs.device)
    pos = inputs.new_zeros(b, 3, dtype=torch.float32)
    images = resize_to(inputs, base_resolution)
    feats, counts = [], []
    log_probs, probs, all_boxes, all_valid = [], [], [], []
    level_ids: List[int] = []
    per_img = 1
    for level in range(num_levels):
        grid, f = extract(images)
        feats.append(positional_module(f, pos).view(b, per_img, -1))
        counts.append(per_img)
        if level == num_levels - 1:
            break
        p = location_module(grid, f)                      # [K, n*n]
        k = locations_per_level[level]
        cells, log_p = select_cells(p, k, selection)      # [K, k] x 2
        chosen = p.gather(1, cells)
        log_probs.append(log_p.reshape(b, -1))
        probs.append(chosen.detach().reshape(b, -1))
        gy, gx = geoms[level]
        boxes, valid = child_regions(boxes, valid, cells, gy, gx)
        pos = child_positions(pos, cells, grid_size, level + 1)
        per_img *= k
        all_boxes.append(boxes.view(b, per_img, 4))
        all_valid.append(valid.view(b, per_img, 4))
        level_ids += [level + 1] * per_img
        images = crop_regions(inputs, boxes, valid, (gy.patch, gx.patch),
                              base_resolution)
    empty = inputs.new_zeros(b, 0)
    return dict(
        features=torch.cat(feats, dim=1), level_counts=tuple(counts),
        log_probs=torch.cat(log_probs, 1) if log_probs else empty,
        probs=torch.cat(probs, 1) if probs else empty,
        boxes=torch.cat(all_boxes, 1) if all_boxes
        else empty.new_zeros(b, 0, 4, dtype=torch.long),
        valid=torch.cat(all_valid, 1) if all_valid
        else empty.new_zeros(b, 0, 4, dtype=torch.long),
        levels=level_ids)
