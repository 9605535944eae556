"""A picture as a model's input, and the data samples of a tensor forward."""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from td_plugins.utils.dummy_inputs import det_data_samples


def prepare_input(model: nn.Module, image: np.ndarray, scope: str,
                  frames: int) -> torch.Tensor:
    """``image`` (BGR uint8) as the model's data preprocessor would give it.

    Example:
        >>> from types import SimpleNamespace
        >>> model = nn.Conv2d(3, 1, 1)
        >>> model.data_preprocessor = SimpleNamespace(pad_size_divisor=32)
        >>> img = np.zeros((40, 50, 3), np.uint8)
        >>> prepare_input(model, img, 'mmdet', 1).shape
        torch.Size([1, 3, 64, 64])
    """
    dp = model.data_preprocessor
    x = torch.from_numpy(image).permute(2, 0, 1).float()
    if getattr(dp, '_channel_conversion', False) or \
            getattr(dp, 'to_rgb', False):
        x = x.flip(0)
    if getattr(dp, '_enable_normalize', False):
        x = (x - dp.mean.view(-1, 1, 1).cpu()) / dp.std.view(-1, 1, 1).cpu()
    div = int(getattr(dp, 'pad_size_divisor', 1) or 1)
    h, w = x.shape[1:]
    x = F.pad(x, (0, -w % div, 0, -h % div))[None]
    if scope == 'mmaction':
        x = x[:, None]
        if getattr(dp, 'format_shape', 'NCHW') == 'NCTHW':
            x = x[:, :, :, None].repeat(1, 1, 1, frames, 1, 1)
    return x.to(next(model.parameters()).device)


def tensor_data_samples(x: torch.Tensor, scope: str,
                        img_shape: Optional[Tuple[int, int]] = None
                        ) -> Optional[list]:
    """mmdet's data samples for a ``mode='tensor'`` forward; None otherwise.

    Example:
        >>> tensor_data_samples(torch.zeros(1, 3, 64, 64), 'mmpretrain')
    """
    if scope != 'mmdet':
        return None
    padded = x.shape[-2:]
    return det_data_samples(x.shape[0], img_shape or padded, padded)


def spatial_map(t: torch.Tensor, size: Tuple[int, int],
                padded: Tuple[int, int]) -> np.ndarray:
    """A ``(h, w)`` map (video: middle frame) cut to the image (no padding).

    Example:
        >>> spatial_map(torch.zeros(3, 8, 8), (40, 50), (64, 64)).shape
        (5, 6)
    """
    t = t.detach().float().cpu()
    if t.dim() == 3:
        t = t[t.shape[0] // 2]
    h, w = t.shape
    keep_h = max(1, round(h * size[0] / padded[0]))
    keep_w = max(1, round(w * size[1] / padded[1]))
    return t[:keep_h, :keep_w].numpy()
