"""TDAF's ANAR masks as maps (Pang et al., AAAI 2021, eq. 5, Fig. 3b)."""
from typing import Any, List, Tuple

import torch
import torch.nn as nn

from td_plugins.models.layers import R2DNS

from .drawing import colour_overlay

Map = Tuple[str, torch.Tensor]  # (title, (h, w) or video (T, h, w) map)

__all__ = ['colour_overlay', 'recorded_masks', 'tdaf_maps']


def recorded_masks(r2dns: nn.Module) -> List[Tuple[int, int, Any]]:
    """``(stage, flow, mask)`` (1-based) per mask of the last forward.

    Example:
        >>> from types import SimpleNamespace
        >>> r = SimpleNamespace(num_flows=3, attention_maps=[
        ...     [torch.zeros(1, 1, 4, 4)] * 2, [torch.zeros(1, 1, 2, 2)]])
        >>> [(s, f, tuple(m.shape)) for s, f, m in recorded_masks(r)]
        [(1, 2, (1, 1, 4, 4)), (1, 3, (1, 1, 4, 4)), (2, 3, (1, 1, 2, 2))]
    """
    out = []
    for stage, masks in enumerate(r2dns.attention_maps or []):
        first = r2dns.num_flows - len(masks) + 1
        for flow, mask in enumerate(masks, start=first):
            out.append((stage + 1, flow, mask))
    return out


def tdaf_maps(model: nn.Module) -> List[Map]:
    """``(title, (h, w) mask)``: sample 0's mask of every ANAR, last forward.

    Example:
        >>> tdaf_maps(nn.Sequential())
        []
    """
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, R2DNS)]
    maps = []
    for name, r2dns in found:
        where = f' ({name})' if len(found) > 1 else ''
        for stage, flow, mask in recorded_masks(r2dns):
            maps.append((f'TDAF{where} stage {stage} flow {flow}',
                         mask[0, 0]))
    return maps
