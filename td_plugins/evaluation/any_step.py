"""TDAM's per-step evaluation protocol, as plain functions.

Jaiswal, Fernando and Tan, "TDAM" (ECCV 2022), section 4 and the official
``validate_over_iou`` / ``custom_utils.filter_pred_with_iou`` /
``accuracy_over_iou_filtered`` (``shared/spec/methods.md`` section 1.6):

1. For t = 1..T the network is run with layer4's TD blocks stopped after
   step t, giving one class-score vector per step.
2. Each step's prediction is localised with a class activation map (CAM) of
   its top-1 class: the bounding box of the largest connected region above
   15% of the CAM's range.
3. For t >= 2, whenever step t's box overlaps an earlier step's box with
   IoU > 0.5, both entries become the one of the two with the higher top-1
   probability (they are taken to be the same object).
4. An image counts as correct at top-k if *any* step's (filtered)
   prediction is correct at top-k.

This "any-of-T distinct-localisation" accuracy is what the paper's TD
numbers report; the baselines' numbers are standard single-prediction
accuracy, so td_plugins reports both, each named for what it is.

Simplification: the official code turns the CAM into a colour map and back
to grey before thresholding at 0.15 * 255 and keeps the largest OpenCV
contour; here the min-max normalised CAM itself is thresholded at 0.15 and
the largest 8-connected component is kept.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['class_activation_maps', 'cam_boxes', 'box_iou',
           'filter_steps_by_iou', 'any_step_correct']


def class_activation_maps(features: torch.Tensor, fc_weight: torch.Tensor,
                          classes: torch.Tensor) -> torch.Tensor:
    """CAM of ``classes``: ``sum_c w[class, c] * f[c]``, shape (B, h, w).

    Args:
        features (Tensor): Last feature maps, (B, C, h, w).
        fc_weight (Tensor): Linear classifier weight, (num_classes, C).
        classes (Tensor): One class index per image, (B, ).
    """
    return torch.einsum('bchw,bc->bhw', features, fc_weight[classes])


def cam_boxes(cams: torch.Tensor, size: Tuple[int, int],
              threshold: float = 0.15) -> torch.Tensor:
    """Box ``(x1, y1, x2, y2)`` (pixels, inclusive) of the largest region
    of each CAM above ``threshold`` of its range, after resizing to
    ``size``; the whole image when nothing is above it."""
    import cv2
    cams = F.interpolate(cams[:, None].float(), size=size, mode='bilinear',
                         align_corners=False)[:, 0]
    lo = cams.flatten(1).min(1)[0][:, None, None]
    hi = cams.flatten(1).max(1)[0][:, None, None]
    norm = (cams - lo) / (hi - lo).clamp_min(1e-12)
    boxes = []
    for mask in (norm > threshold).cpu().numpy().astype(np.uint8):
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
        if n <= 1:
            boxes.append([0, 0, size[1] - 1, size[0] - 1])
            continue
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = stats[best, :4]
        boxes.append([x, y, x + w - 1, y + h - 1])
    return torch.tensor(boxes, dtype=torch.float32)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two inclusive pixel boxes ``(x1, y1, x2, y2)``."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) +
            (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)
    return float(inter / area)


def filter_steps_by_iou(scores: torch.Tensor, boxes: torch.Tensor,
                        iou_thr: float = 0.5) -> torch.Tensor:
    """Step 3 of the protocol for one image.

    Args:
        scores (Tensor): Class probabilities per step, (T, num_classes).
        boxes (Tensor): CAM box per step, (T, 4).
        iou_thr (float): Boxes overlapping more than this are one object.
            Defaults to 0.5.

    Returns:
        Tensor: The filtered scores, (T, num_classes).

    Example:
        >>> s = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
        >>> b = torch.tensor([[0., 0, 9, 9], [0, 0, 9, 9]])
        >>> filter_steps_by_iou(s, b).argmax(1).tolist()  # same object
        [0, 0]
    """
    scores = scores.clone()
    for t in range(1, len(scores)):
        for s in range(t):
            if box_iou(boxes[t].tolist(), boxes[s].tolist()) > iou_thr:
                keep = t if scores[t].max() > scores[s].max() else s
                scores[t] = scores[s] = scores[keep].clone()
    return scores


def any_step_correct(scores: torch.Tensor, label: int,
                     topk: Sequence[int]) -> List[bool]:
    """Whether any step's top-k contains ``label``, for each k."""
    out = []
    for k in topk:
        top = scores.topk(min(k, scores.shape[1]), dim=1).indices
        out.append(bool((top == label).any()))
    return out
