"""TDAM's per-step evaluation protocol, as plain functions.

Jaiswal et al., "TDAM" (ECCV 2022), section 4.1, as the official
``validate_over_iou`` (docs/tdam.md, "Evaluation").
"""
from functools import lru_cache
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['LOCALISATIONS', 'class_activation_maps', 'cam_boxes',
           'box_iou', 'filter_steps_by_iou', 'any_step_correct']

#: Valid values of the ``localisation`` arguments.
LOCALISATIONS = ('official', 'simple')


def check_localisation(localisation: str) -> None:
    """Refuse an unknown ``localisation`` with its valid values."""
    if localisation not in LOCALISATIONS:
        raise ValueError(f'localisation must be one of {LOCALISATIONS}, '
                         f'got {localisation!r}')


def class_activation_maps(features: torch.Tensor, fc_weight: torch.Tensor,
                          classes: torch.Tensor) -> torch.Tensor:
    """CAMs ``sum_c w[class, c] * f[c]`` of ``classes``, (B, h, w).

    Args:
        features (Tensor): Last feature maps, (B, C, h, w).
        fc_weight (Tensor): Linear classifier weight, (num_classes, C).
        classes (Tensor): One class index per image, (B, ).
    """
    return torch.einsum('bchw,bc->bhw', features, fc_weight[classes])


@lru_cache(maxsize=None)
def _kept_levels(threshold_ratio: float) -> np.ndarray:
    """Which of the 0..255 scaled levels survive JET -> grey -> threshold."""
    import cv2
    levels = np.arange(256, dtype=np.uint8)[None]
    grey = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET),
                        cv2.COLOR_BGR2GRAY)[0]
    return grey > int(threshold_ratio * 255)


def _official_box(cam: np.ndarray, size: Tuple[int, int],
                  threshold_ratio: float) -> List[int]:
    import cv2
    cam = cv2.resize(np.ascontiguousarray(cam, dtype=np.float32),
                     (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    levels = cv2.normalize(cam, None, alpha=0, beta=155,
                           norm_type=cv2.NORM_MINMAX, dtype=cv2.CV_8U)
    mask = _kept_levels(threshold_ratio)[levels].astype(np.uint8)
    contours = cv2.findContours(mask, cv2.RETR_LIST,
                                cv2.CHAIN_APPROX_SIMPLE)[-2]
    sizes = [len(c) for c in contours]
    if not sizes or max(sizes) <= 15:
        return [0, 0, -1, -1]
    x, y, w, h = cv2.boundingRect(contours[int(np.argmax(sizes))])
    return [x, y, x + w - 1, y + h - 1]


def _simple_box(cam: torch.Tensor, size: Tuple[int, int],
                threshold_ratio: float) -> List[int]:
    import cv2
    cam = F.interpolate(cam[None, None].float(), size=size, mode='bilinear',
                        align_corners=False)[0, 0]
    norm = (cam - cam.min()) / (cam.max() - cam.min()).clamp_min(1e-12)
    mask = (norm > threshold_ratio).cpu().numpy().astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
    if n <= 1:
        return [0, 0, size[1] - 1, size[0] - 1]
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = stats[best, :4]
    return [int(x), int(y), int(x + w - 1), int(y + h - 1)]


def cam_boxes(cams: torch.Tensor, size: Tuple[int, int],
              threshold: float = 0.15,
              localisation: str = 'official') -> torch.Tensor:
    """Inclusive ``(x1, y1, x2, y2)`` box of each CAM at the input, (B, 4).

    Args:
        cams (Tensor): Raw CAMs, (B, h, w).
        size (tuple[int, int]): Input (height, width) to resize them to.
        threshold (float): Official ``threshold_ratio``. Defaults to 0.15.
        localisation (str): ``'official'`` or ``'simple'``.
    """
    check_localisation(localisation)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f'threshold must be in [0, 1), got {threshold!r}')
    size = (int(size[0]), int(size[1]))
    cams = cams.detach().float().cpu()
    if localisation == 'official':
        boxes = [_official_box(c.numpy(), size, threshold) for c in cams]
    else:
        boxes = [_simple_box(c, size, threshold) for c in cams]
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two inclusive pixel boxes ``(x1, y1, x2, y2)``, 0 if disjoint."""
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
    """Merge the overlapping steps of one image (``filter_pred_with_iou``).

    Args:
        scores (Tensor): Class probabilities per step, (T, num_classes).
        boxes (Tensor): CAM box per step, (T, 4).
        iou_thr (float): Merge above this IoU. Defaults to 0.5.

    Returns:
        Tensor: The filtered scores, (T, num_classes).

    Example:
        >>> s = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
        >>> b = torch.tensor([[0., 0, 9, 9], [0, 0, 9, 9]])
        >>> filter_steps_by_iou(s, b).argmax(1).tolist()  # same object
        [0, 0]
    """
    kept_scores = [scores[0].clone()]
    kept_boxes = [boxes[0].tolist()]
    for t in range(1, len(scores)):
        score, box = scores[t].clone(), boxes[t].tolist()
        replaced = []
        for j in range(t):
            if box_iou(kept_boxes[j], box) <= iou_thr:
                continue
            if score.max() > kept_scores[j].max():
                kept_boxes[j] = box
                replaced.append(j)
            else:
                score, box = kept_scores[j].clone(), kept_boxes[j]
        for j in replaced:
            kept_scores[j] = score.clone()
        kept_scores.append(score)
        kept_boxes.append(box)
    return torch.stack(kept_scores)


def any_step_correct(scores: torch.Tensor, label: int,
                     topk: Sequence[int]) -> List[bool]:
    """Whether any step's top-k contains ``label``, for each k."""
    out = []
    for k in topk:
        top = scores.topk(min(k, scores.shape[1]), dim=1).indices
        out.append(bool((top == label).any()))
    return out
