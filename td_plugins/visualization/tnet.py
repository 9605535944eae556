"""TNet's attended regions as boxes, one colour per level (NeurIPS 2021,
Fig. 4).
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn

from .drawing import Panel, add_title
from .inputs import prepare_input

# BGR colours of levels 1, 2, 3, ... (cycled).
LEVEL_COLOURS = ((0, 0, 255), (0, 200, 0), (255, 80, 0), (0, 215, 255),
                 (255, 0, 255))


def level_colour(level: int) -> Tuple[int, int, int]:
    """The BGR colour of attended level ``level`` (1-based).

    Example:
        >>> level_colour(1), level_colour(6)
        ((0, 0, 255), (0, 0, 255))
    """
    return LEVEL_COLOURS[(level - 1) % len(LEVEL_COLOURS)]


def draw_regions(image: np.ndarray, boxes: np.ndarray, levels: Sequence[int],
                 probs: Optional[Sequence[float]] = None,
                 title: Optional[str] = None) -> np.ndarray:
    """``(K, 4)`` boxes of 1-based ``levels`` drawn on a copy of ``image``.

    Example:
        >>> img = np.zeros((64, 64, 3), np.uint8)
        >>> out = draw_regions(img, np.array([[0, 0, 32, 32]]), [1])
        >>> out.shape, bool((out == level_colour(1)).all(-1).any())
        ((64, 64, 3), True)
    """
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 200))
    labels = min(h, w) >= 128
    order = np.argsort(np.asarray(levels), kind='stable')
    for i in order:
        x1, y1, x2, y2 = (int(round(float(v))) for v in boxes[i])
        colour = level_colour(int(levels[i]))
        cv2.rectangle(out, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)),
                      colour, thick)
        if labels and probs is not None:
            cv2.putText(out, f'L{int(levels[i])} {float(probs[i]):.2f}',
                        (x1 + 2, y1 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        colour, 1)
    if labels and title:
        cv2.putText(out, title, (4, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1)
    return out


def is_tnet(model: nn.Module) -> bool:
    """Whether ``model`` is a ``td_plugins.TNet`` (False without mmpretrain).

    Example:
        >>> is_tnet(nn.Identity())
        False
    """
    try:
        from ..models.classifiers.tnet import TNet
    except ImportError:
        return False
    return isinstance(model, TNet)


def tnet_panels(model: nn.Module, image: np.ndarray,
                classes: Optional[Sequence[str]] = None) -> List[Panel]:
    """``(title, picture)`` per attended level of ``model`` on ``image``."""
    h, w = image.shape[:2]
    in_h, in_w = getattr(model, 'input_size', None) or (h, w)
    x = prepare_input(model, cv2.resize(image, (in_w, in_h)), 'mmpretrain',
                      1)
    with torch.no_grad():
        sample = model.predict(x)[0]
    boxes = sample.tnet_boxes.cpu().numpy() * np.array(
        [w / in_w, h / in_h, w / in_w, h / in_h])
    levels = sample.tnet_levels.cpu().numpy()
    probs = sample.tnet_probs.cpu().numpy()
    label = int(sample.pred_label)
    name = classes[label] if classes and label < len(classes) else label
    panels = []
    for level in sorted(set(levels.tolist())):
        keep = levels == level
        title = (f'TNet level {level}: {int(keep.sum())} regions, '
                 f'p {", ".join(f"{p:.2f}" for p in probs[keep])}')
        if not panels:
            title = f'{title}; class {name} ' \
                f'{float(sample.pred_score[label]):.2f}'
        # Boxes over the title band, so that none is dimmed by it.
        panels.append((title, draw_regions(add_title(image, title),
                                           boxes[keep],
                                           levels[keep].tolist())))
    return panels
